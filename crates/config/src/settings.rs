//! The nuget.config hierarchy and the values signet reads from it.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::xml::{self, Document, Element};

/// Largest config file read.
pub const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// Config file names looked for in each directory, in NuGet's order.
const FILE_NAMES: &[&str] = &["nuget.config", "NuGet.config", "NuGet.Config"];

/// Where the hierarchy comes from. Injected (never read from the process inside the library)
/// so that tests control every file that is loaded.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// The directory the walk up starts from (NuGet: the solution or current directory).
    pub cwd: PathBuf,
    /// The user's home: the user config is `~/.nuget/NuGet/NuGet.Config`, plus any
    /// `~/.nuget/config/*.config`.
    pub home: Option<PathBuf>,
    /// The machine-wide config directory (NuGet on Linux/macOS: `/etc/opt/NuGet/Config`);
    /// every `*.config` in it is loaded, read-only.
    pub machine_wide: Option<PathBuf>,
}

impl Environment {
    /// The process's view: current directory, `$HOME`, and `/etc/opt/NuGet/Config` (or
    /// `$NUGET_COMMON_APPLICATION_DATA/NuGet/Config` when that is set, as NuGet does).
    pub fn from_process() -> Self {
        let machine_wide = match std::env::var_os("NUGET_COMMON_APPLICATION_DATA") {
            Some(d) => PathBuf::from(d).join("NuGet").join("Config"),
            None => PathBuf::from("/etc/opt/NuGet/Config"),
        };
        Self {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home: std::env::var_os("HOME").map(PathBuf::from),
            machine_wide: Some(machine_wide),
        }
    }

    /// The user-wide config file (written by `signet trust` without `--configfile`).
    pub fn user_config(&self) -> Option<PathBuf> {
        self.home
            .as_ref()
            .map(|h| h.join(".nuget").join("NuGet").join("NuGet.Config"))
    }
}

/// Where a loaded file sits in the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Given with `--configfile`.
    Explicit,
    /// Found walking up from the working directory.
    Directory,
    /// The user-wide config.
    User,
    /// Machine-wide (never written).
    MachineWide,
}

/// One config file, parsed.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// Its path.
    pub path: PathBuf,
    /// Where it sits.
    pub level: Level,
    /// Its content.
    pub doc: Document,
    /// Edited since loading.
    pub(crate) dirty: bool,
}

impl ConfigFile {
    /// Reads and parses `path` (at most [`MAX_CONFIG_SIZE`] bytes; no DTDs).
    pub fn read(path: &Path, level: Level) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > MAX_CONFIG_SIZE {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                message: format!("larger than {MAX_CONFIG_SIZE} bytes"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let doc = xml::parse(text).map_err(|message| Error::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        if doc.root.name != "configuration" {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "the root element is <{}>, not <configuration>",
                    doc.root.name
                ),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            level,
            doc,
            dirty: false,
        })
    }

    /// An empty `<configuration>` for a file that does not exist yet.
    pub fn empty(path: &Path, level: Level) -> Self {
        let mut root = Element::new("configuration");
        root.children.push(xml::Node::Text("\n".into()));
        Self {
            path: path.to_path_buf(),
            level,
            doc: Document { root },
            dirty: true,
        }
    }

    /// The section element `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Element> {
        self.doc.root.child(name)
    }

    /// The section `name`, created when missing; marks the file edited.
    pub fn section_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.dirty = true;
        // A section is a child of `<configuration>`, the root at depth 0.
        self.doc.root.child_or_insert(name, 0)
    }

    /// Writes the file atomically (temporary file in the same directory, then rename),
    /// creating its directory when needed.
    pub fn save(&mut self) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        let text = xml::write(&self.doc).map_err(|message| Error::Invalid {
            path: self.path.clone(),
            message,
        })?;
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        self.dirty = false;
        Ok(())
    }
}

/// A package source from `<packageSources>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageSource {
    /// Its key (name).
    pub name: String,
    /// URL or folder path (relative paths resolved against the defining file's folder).
    pub location: String,
    /// Not listed in `<disabledPackageSources>` as `true`.
    pub enabled: bool,
}

/// `signatureValidationMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValidationMode {
    /// NuGet's default.
    Accept,
    /// Only trusted signers.
    Require,
}

/// All config files of one invocation, closest first.
#[derive(Clone, Debug)]
pub struct Settings {
    files: Vec<ConfigFile>,
    write_target: usize,
}

impl Settings {
    /// Loads the hierarchy. With `configfile`, only that file (it must exist), as
    /// `--configfile` does in NuGet. Otherwise every `nuget.config` from `env.cwd` up to the
    /// filesystem root (closest first), the user config (created in memory when missing: it
    /// is where edits go), then the machine-wide files.
    pub fn load(env: &Environment, configfile: Option<&Path>) -> Result<Self, Error> {
        if let Some(path) = configfile {
            return Ok(Self {
                files: vec![ConfigFile::read(path, Level::Explicit)?],
                write_target: 0,
            });
        }
        let mut files = Vec::new();
        let mut dir = Some(env.cwd.as_path());
        while let Some(d) = dir {
            for name in FILE_NAMES {
                let p = d.join(name);
                if p.is_file() {
                    files.push(ConfigFile::read(&p, Level::Directory)?);
                    break;
                }
            }
            dir = d.parent();
        }
        let mut write_target = files.len();
        match env.user_config() {
            Some(user) if user.is_file() => files.push(ConfigFile::read(&user, Level::User)?),
            Some(user) => {
                let mut f = ConfigFile::empty(&user, Level::User);
                f.dirty = false;
                files.push(f);
            }
            None => write_target = 0,
        }
        if let Some(home) = &env.home {
            files.extend(read_dir_configs(
                &home.join(".nuget").join("config"),
                Level::User,
            )?);
        }
        if let Some(machine) = &env.machine_wide {
            files.extend(read_dir_configs(machine, Level::MachineWide)?);
        }
        Ok(Self {
            files,
            write_target,
        })
    }

    /// The loaded files, closest first.
    pub fn files(&self) -> &[ConfigFile] {
        &self.files
    }

    /// The file edits go to: `--configfile`, else the user config.
    pub fn write_target(&self) -> Option<&ConfigFile> {
        self.files.get(self.write_target)
    }

    pub(crate) fn write_target_mut(&mut self) -> Option<&mut ConfigFile> {
        self.files.get_mut(self.write_target)
    }

    pub(crate) fn files_mut(&mut self) -> &mut [ConfigFile] {
        &mut self.files
    }

    /// Writes every edited file.
    pub fn save(&mut self) -> Result<(), Error> {
        for f in &mut self.files {
            if f.dirty && f.level != Level::MachineWide {
                f.save()?;
            }
        }
        Ok(())
    }

    /// The items of `section` with NuGet's merge: closest file first; a `<clear />` ends the
    /// walk to farther files. Each item comes with its file.
    pub fn section_items(&self, section: &str) -> Vec<(&Element, &ConfigFile)> {
        self.section_items_where(section, |_| true)
    }

    /// [`Settings::section_items`] over only the files `keep` accepts: files it refuses take
    /// no part at all — their items are not read and their `<clear />` does not end the walk
    /// (a checkout's `<clear />` must not erase the user's own trust settings).
    pub fn section_items_where(
        &self,
        section: &str,
        keep: impl Fn(&ConfigFile) -> bool,
    ) -> Vec<(&Element, &ConfigFile)> {
        let mut out = Vec::new();
        for file in self.files.iter().filter(|f| keep(f)) {
            let Some(sec) = file.section(section) else {
                continue;
            };
            let mut items: Vec<&Element> = Vec::new();
            let mut cleared = false;
            for e in sec.elements() {
                if e.name == "clear" {
                    items.clear();
                    cleared = true;
                } else {
                    items.push(e);
                }
            }
            out.extend(items.into_iter().map(|e| (e, file)));
            if cleared {
                break;
            }
        }
        out
    }

    /// The value of `<add key=… value=…>` in `section`, the closest definition winning; keys
    /// compare case-insensitively, as NuGet's do.
    pub fn value(&self, section: &str, key: &str) -> Option<(String, &ConfigFile)> {
        self.section_items(section)
            .into_iter()
            .find(|(e, _)| {
                e.name == "add" && e.attr("key").is_some_and(|k| k.eq_ignore_ascii_case(key))
            })
            .and_then(|(e, f)| e.attr("value").map(|v| (v.to_string(), f)))
    }

    /// A `<config>` value.
    pub fn config_value(&self, key: &str) -> Option<(String, &ConfigFile)> {
        self.value("config", key)
    }

    /// `signatureValidationMode` (case-insensitive, numeric 0/1 too; default accept).
    pub fn signature_validation_mode(&self) -> Result<ValidationMode, Error> {
        match self.config_value("signatureValidationMode") {
            None => Ok(ValidationMode::Accept),
            Some((v, file)) => match v.trim().to_ascii_lowercase().as_str() {
                "accept" | "0" => Ok(ValidationMode::Accept),
                "require" | "1" => Ok(ValidationMode::Require),
                other => Err(Error::Invalid {
                    path: file.path.clone(),
                    message: format!(
                        "signatureValidationMode '{other}' is not 'accept' or 'require'"
                    ),
                }),
            },
        }
    }

    /// A `<config>` value from the files that may set signet's own trust settings only:
    /// `--configfile`, the user config and the machine-wide configs — never a `nuget.config`
    /// found walking up from the working directory, which whoever controls a checkout
    /// controls ([`Settings::ignored_trust_settings`] lists what was ignored).
    fn trust_config_value(&self, key: &str) -> Option<(String, &ConfigFile)> {
        self.value_where("config", key, |f| f.level != Level::Directory)
    }

    /// [`Settings::value`] over the files `keep` accepts.
    fn value_where(
        &self,
        section: &str,
        key: &str,
        keep: impl Fn(&ConfigFile) -> bool,
    ) -> Option<(String, &ConfigFile)> {
        self.section_items_where(section, keep)
            .into_iter()
            .find(|(e, _)| {
                e.name == "add" && e.attr("key").is_some_and(|k| k.eq_ignore_ascii_case(key))
            })
            .and_then(|(e, f)| e.attr("value").map(|v| (v.to_string(), f)))
    }

    /// signet's own trust settings that a config found walking up from the working directory
    /// tried to set, and that were ignored: `(setting, file)`. signet reads
    /// `signetTrustRoots`, `signetTrustRootsOnly`, `signetSignaturePolicy` and
    /// `<signetSourcePolicies>` and `<signetTrustedIdentities>` only from the user and machine
    /// configs or `--configfile`, so a checkout cannot add trust anchors, trusted identities or
    /// lower the policy. (NuGet's own `trustedSigners`
    /// and `signatureValidationMode` are honoured from every level, as NuGet does.)
    pub fn ignored_trust_settings(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for f in self.files.iter().filter(|f| f.level == Level::Directory) {
            if let Some(sec) = f.section("config") {
                for e in sec.elements() {
                    if let Some(k) = e.attr("key")
                        && [
                            "signetTrustRoots",
                            "signetTrustRootsOnly",
                            "signetSignaturePolicy",
                        ]
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(k))
                    {
                        out.push((k.to_string(), f.path.clone()));
                    }
                }
            }
            for section in ["signetSourcePolicies", crate::IDENTITIES_SECTION] {
                if f.section(section)
                    .is_some_and(|s| s.elements().next().is_some())
                {
                    out.push((section.to_string(), f.path.clone()));
                }
            }
        }
        out
    }

    /// The config file that defines the package source `name` (closest definition), if any.
    pub fn source_defined_in(&self, name: &str) -> Option<&ConfigFile> {
        self.section_items("packageSources")
            .into_iter()
            .find(|(e, _)| {
                e.name == "add" && e.attr("key").is_some_and(|k| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, f)| f)
    }

    /// `<packageSourceMapping>`: `(source name, pattern)` pairs in document order, with
    /// NuGet's merge (closest file first, `<clear />` ends the walk).
    pub fn package_source_mapping(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (e, _) in self.section_items("packageSourceMapping") {
            if e.name != "packageSource" {
                continue;
            }
            let Some(key) = e.attr("key") else { continue };
            for p in e.elements().filter(|p| p.name == "package") {
                if let Some(pattern) = p.attr("pattern") {
                    out.push((key.to_string(), pattern.to_string()));
                }
            }
        }
        out
    }

    /// signet's `signetTrustRoots` (`;`-separated paths, relative to the file that sets them)
    /// and `signetTrustRootsOnly`, from the user and machine configs or `--configfile` only.
    pub fn signet_trust_roots(&self) -> (Vec<PathBuf>, bool) {
        let roots = self
            .trust_config_value("signetTrustRoots")
            .map(|(v, file)| {
                let base = file.path.parent().unwrap_or(Path::new(".")).to_path_buf();
                v.split(';')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| base.join(p))
                    .collect()
            })
            .unwrap_or_default();
        let only = self
            .trust_config_value("signetTrustRootsOnly")
            .is_some_and(|(v, _)| v.trim().eq_ignore_ascii_case("true"));
        (roots, only)
    }

    /// The client policy for the source named `source`: `<signetSourcePolicies>` entry, else
    /// `signetSignaturePolicy` (both from the user and machine configs or `--configfile`
    /// only), else `signatureValidationMode` (accept/require, from any level, as NuGet).
    /// Returns the policy name and where it came from.
    pub fn signet_policy_name(&self, source: Option<&str>) -> Result<(String, String), Error> {
        if let Some(name) = source
            && let Some((v, f)) = self.value_where("signetSourcePolicies", name, |f| {
                f.level != Level::Directory
            })
        {
            return Ok((v, format!("signetSourcePolicies in {}", f.path.display())));
        }
        if let Some((v, f)) = self.trust_config_value("signetSignaturePolicy") {
            return Ok((v, format!("signetSignaturePolicy in {}", f.path.display())));
        }
        let mode = match self.signature_validation_mode()? {
            ValidationMode::Accept => "accept",
            ValidationMode::Require => "require",
        };
        let origin = match self.config_value("signatureValidationMode") {
            Some((_, f)) => format!("signatureValidationMode in {}", f.path.display()),
            None => "the default: no signatureValidationMode in nuget.config".to_string(),
        };
        Ok((mode.to_string(), origin))
    }

    /// The package sources, closest definition of each name winning, in the order the
    /// farthest file defines them (NuGet's order).
    pub fn package_sources(&self) -> Vec<PackageSource> {
        // Farthest file first, each file's items in document order.
        let mut groups: Vec<Vec<(&Element, &ConfigFile)>> = Vec::new();
        for (e, file) in self.section_items("packageSources") {
            match groups.last_mut() {
                Some(g) if g.first().is_some_and(|(_, f)| std::ptr::eq(*f, file)) => {
                    g.push((e, file));
                }
                _ => groups.push(vec![(e, file)]),
            }
        }
        let mut out: Vec<PackageSource> = Vec::new();
        for (e, file) in groups.into_iter().rev().flatten() {
            let (Some(name), Some(value)) = (e.attr("key"), e.attr("value")) else {
                continue;
            };
            if e.name != "add" {
                continue;
            }
            let location = resolve_location(value, &file.path);
            match out.iter_mut().find(|s| s.name.eq_ignore_ascii_case(name)) {
                Some(s) => s.location = location,
                None => out.push(PackageSource {
                    name: name.to_string(),
                    location,
                    enabled: true,
                }),
            }
        }
        for s in &mut out {
            if let Some((v, _)) = self.value("disabledPackageSources", &s.name) {
                s.enabled = !v.trim().eq_ignore_ascii_case("true");
            }
        }
        out
    }
}

/// URLs stay as they are; relative folder paths are relative to the config file's folder.
pub(crate) fn resolve_location(value: &str, config: &Path) -> String {
    if value.contains("://") || Path::new(value).is_absolute() {
        return value.to_string();
    }
    config
        .parent()
        .unwrap_or(Path::new("."))
        .join(value)
        .display()
        .to_string()
}

fn read_dir_configs(dir: &Path, level: Level) -> Result<Vec<ConfigFile>, Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("config"))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| ConfigFile::read(p, level)).collect()
}
