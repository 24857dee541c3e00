//! Package arguments of `sign`, `repo-sign` and `verify`: wildcards expanded by signet (as
//! `dotnet nuget sign/verify` do, for Windows shells and CI YAML that pass `*.nupkg` through
//! unexpanded), and every input checked before anything is printed or loaded.

use std::path::{Path, PathBuf};

/// Expands `*`, `?` and `[...]` in each argument (sorted; an argument without one stays as
/// it is) and checks every result: it must be a regular file, or a symbolic link to one. A
/// directory, a FIFO or a device, or a pattern that matches nothing, is an error naming it.
pub fn expand_packages(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for arg in args {
        let text = arg.to_string_lossy();
        if text.contains(['*', '?', '[']) {
            let mut matched: Vec<PathBuf> = glob::glob(&text)
                .map_err(|e| format!("'{text}' is not a valid wildcard pattern: {e}"))?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if matched.is_empty() {
                return Err(format!("no package matches '{text}'"));
            }
            matched.sort();
            out.extend(matched);
        } else {
            check(arg)?;
            out.push(arg.clone());
        }
    }
    Ok(out)
}

/// A package argument must be a regular file (through a link is fine): said plainly
/// otherwise, before any work starts.
pub(crate) fn check(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) if m.is_dir() => Err(format!(
            "{} is a directory; give .nupkg files (wildcards such as {}/*.nupkg work too)",
            path.display(),
            path.display()
        )),
        Ok(_) => Err(format!(
            "{} is not a regular file (a FIFO, socket or device); give .nupkg files",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{}: no such file", path.display()))
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}
