//! No module cycles in the server crate (issue 13: "server services with one owner each ... no
//! module cycles"). Reads every `.rs` file under `src/`, maps it to its top-level module
//! (`src/x.rs` and `src/x/**` are `x`; `lib.rs` is the root, above them all), and collects the
//! references that make one module depend on another: `crate::x`, `use crate::{x, y::{..}}`
//! groups, `super::…::x` paths that climb to the crate root, and names the root re-exports
//! (`crate::Error` is `error`'s). Comments, string and character literals, and `#[cfg(test)]`
//! items are left out. The test fails on any cycle, naming the file and line of every edge in
//! it, and prints the layer order (each module after everything it uses) for
//! `docs/ARCHITECTURE.md`.
//!
//! What it cannot see: a method call on a type whose `impl` block lives in another module.
//! That is why every `impl Registry` block lives under `registry/`, and `impl Db` blocks only in
//! modules that `db` never calls back.
//!
//! A second rule, on the same stripped text: the request handlers (`web`, `http` and the state
//! they share, `app`) call `Registry` methods and never the database (issue 13: "web/ and
//! http/ call services, never the database"). Any `sqlx`, `Db` or `.db` (the registry's
//! database, as a field or through `db()`) in their files fails the test with its file and
//! line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One reference that makes `from` depend on `to`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    file: String,
    line: usize,
}

/// The dependency graph of the top-level modules.
#[derive(Debug, Default)]
struct Graph {
    modules: BTreeSet<String>,
    edges: Vec<Edge>,
}

/// A source file: its path relative to `src/` (with `/` separators) and its text.
struct Source {
    path: String,
    text: String,
}

/// The top-level module of a file and how deep its module is below the crate root
/// (`x.rs`, `x/mod.rs`: 1; `x/y.rs`, `x/y/mod.rs`: 2). `None` for `lib.rs` and `main.rs`.
fn module_of(path: &str) -> Option<(String, usize)> {
    let stem = path.strip_suffix(".rs")?;
    let mut parts: Vec<&str> = stem.split('/').collect();
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        return None;
    }
    if parts.len() > 1 && parts.last() == Some(&"mod") {
        parts.pop();
    }
    Some((parts[0].to_owned(), parts.len()))
}

/// The text with comments removed and the contents of string and character literals blanked
/// (line breaks kept, so that line numbers stay right).
fn strip_comments_and_literals(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0
                || !is_ident(c[i - 1])
                || (c[i - 1] == 'b' && (i < 2 || !is_ident(c[i - 2]))))
        {
            // Raw string: r"…", r#"…"#, br"…", … (or an identifier starting with `r#`).
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            out.push('"');
            j += 1;
            loop {
                match c.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&ch) => {
                        out.push(blank(ch));
                        j += 1;
                    }
                }
            }
            out.push('"');
            i = j;
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if let Some(&ch) = c.get(i) {
                    out.push(blank(ch));
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if c[i] == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 3..c.len()).find(|&j| c[j] == '\'')
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    out.push_str("' ");
                    for _ in i + 2..e {
                        out.push(' ');
                    }
                    out.push('\'');
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The index just past the bracket that closes the one at `open`.
fn matching(c: &[char], open: usize) -> usize {
    let (o, cl) = match c[open] {
        '{' => ('{', '}'),
        '[' => ('[', ']'),
        _ => ('(', ')'),
    };
    let mut depth = 0;
    for (j, &ch) in c.iter().enumerate().skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == cl {
            depth -= 1;
            if depth == 0 {
                return j + 1;
            }
        }
    }
    c.len()
}

fn skip_ws(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Blanks every item marked `#[cfg(test)]` (a `mod tests { … }`, a helper function, a `use`),
/// with the attributes after the `cfg`. Expects comments and literals already stripped.
fn strip_test_items(src: &str) -> String {
    let mut c: Vec<char> = src.chars().collect();
    let needle: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + needle.len() <= c.len() {
        if c[i..i + needle.len()] != needle[..] {
            i += 1;
            continue;
        }
        let mut j = skip_ws(&c, i + needle.len());
        // Further attributes of the same item.
        while c.get(j) == Some(&'#') && c.get(j + 1) == Some(&'[') {
            j = skip_ws(&c, matching(&c, j + 1));
        }
        // The item ends at its first `;` or at the `}` closing its first `{`.
        let end = (j..c.len())
            .find(|&k| c[k] == ';' || c[k] == '{')
            .map_or(
                c.len(),
                |k| if c[k] == ';' { k + 1 } else { matching(&c, k) },
            );
        for ch in &mut c[i..end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end;
    }
    c.into_iter().collect()
}

/// The first identifier at `i` (after whitespace), and the index after it.
fn ident_at(c: &[char], i: usize) -> Option<(String, usize)> {
    let i = skip_ws(c, i);
    let mut j = i;
    while j < c.len() && is_ident(c[j]) {
        j += 1;
    }
    (j > i).then(|| (c[i..j].iter().collect(), j))
}

/// The first path segment of each element of a `{…}` group starting at `open`
/// (`{a::{b, c}, d as e, self}` gives `a`, `d`, `self`).
fn group_heads(c: &[char], open: usize) -> Vec<String> {
    let close = matching(c, open);
    let mut heads = Vec::new();
    let mut i = open + 1;
    while i < close.saturating_sub(1) {
        if let Some((name, _)) = ident_at(c, i) {
            heads.push(name);
        }
        // Skip to the next comma at this depth.
        let mut depth = 0;
        while i < close - 1 {
            match c[i] {
                '{' | '(' | '[' => depth += 1,
                '}' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    heads
}

/// The last names each element of a `use` tree brings in, with the first segment of its path
/// (`use x::{A, b::C as D};` gives `(x, A)` and `(x, D)`): for the root's re-exports.
fn use_leaves(c: &[char], start: usize, head: &str, out: &mut Vec<(String, String)>) {
    // `start` is just after `head::`.
    let i = skip_ws(c, start);
    if c.get(i) == Some(&'{') {
        let close = matching(c, i);
        let mut k = i + 1;
        while k < close - 1 {
            let elem_end = {
                let mut depth = 0;
                let mut e = k;
                while e < close - 1 {
                    match c[e] {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => break,
                        _ => {}
                    }
                    e += 1;
                }
                e
            };
            leaf_of(&c[k..elem_end], head, out);
            k = elem_end + 1;
        }
    } else {
        let end = (i..c.len()).find(|&k| c[k] == ';').unwrap_or(c.len());
        leaf_of(&c[i..end], head, out);
    }
}

fn leaf_of(elem: &[char], head: &str, out: &mut Vec<(String, String)>) {
    let text: String = elem.iter().collect();
    if let Some(brace) = text.find('{') {
        let inner: Vec<char> = text[brace..].chars().collect();
        use_leaves(&inner, 0, head, out);
        return;
    }
    let text = text.trim();
    let name = match text.split_once(" as ") {
        Some((_, alias)) => alias.trim(),
        None => text.rsplit("::").next().unwrap_or_default().trim(),
    };
    if !name.is_empty() && name != "*" && name != "self" {
        out.push((name.to_owned(), head.to_owned()));
    }
}

/// Names the crate root re-exports from a module (`pub use error::{Error, …}` in `lib.rs`):
/// `crate::Error` depends on `error`.
fn root_reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let c: Vec<char> = lib.chars().collect();
    let mut leaves = Vec::new();
    let mut i = 0;
    while let Some(pos) = find(&c, i, "use ") {
        i = pos + 4;
        if pos > 0 && is_ident(c[pos - 1]) {
            continue;
        }
        if let Some((head, after)) = ident_at(&c, i) {
            let after = skip_ws(&c, after);
            if modules.contains(&head) && c.get(after) == Some(&':') {
                use_leaves(&c, after + 2, &head, &mut leaves);
            }
        }
    }
    leaves.into_iter().collect()
}

fn find(c: &[char], from: usize, needle: &str) -> Option<usize> {
    let n: Vec<char> = needle.chars().collect();
    (from..c.len().saturating_sub(n.len() - 1)).find(|&i| c[i..i + n.len()] == n[..])
}

/// The modules a file's (stripped) text refers to, with the line of each reference.
fn references(text: &str, depth: usize) -> Vec<(String, usize)> {
    let c: Vec<char> = text.chars().collect();
    let line_of = |i: usize| c[..i].iter().filter(|&&ch| ch == '\n').count() + 1;
    let mut refs = Vec::new();
    let mut i = 0;
    while i < c.len() {
        // `crate::` (and `$crate::` in macros) names the root; so do `depth` `super::`s.
        let starts_word = i == 0 || !is_ident(c[i - 1]);
        let root_path_end = if starts_word && c[i..].starts_with(&['c', 'r', 'a', 't', 'e']) {
            let j = skip_ws(&c, i + 5);
            (c.get(j) == Some(&':') && c.get(j + 1) == Some(&':')).then_some(j + 2)
        } else if starts_word && c[i..].starts_with(&['s', 'u', 'p', 'e', 'r']) {
            let mut j = i;
            let mut supers = 0;
            while let Some((word, after)) = ident_at(&c, j) {
                let after = skip_ws(&c, after);
                if word != "super" || c.get(after) != Some(&':') || c.get(after + 1) != Some(&':') {
                    break;
                }
                supers += 1;
                j = after + 2;
            }
            (supers == depth && supers > 0).then_some(j)
        } else {
            None
        };
        match root_path_end {
            Some(j) => {
                let j = skip_ws(&c, j);
                if c.get(j) == Some(&'{') {
                    for head in group_heads(&c, j) {
                        refs.push((head, line_of(i)));
                    }
                } else if let Some((head, _)) = ident_at(&c, j) {
                    refs.push((head, line_of(i)));
                }
                i = j.max(i + 1);
            }
            None => i += 1,
        }
    }
    refs
}

/// Builds the graph of the top-level modules from the crate's files.
fn analyse(files: &[Source]) -> Graph {
    let mut graph = Graph::default();
    for f in files {
        if let Some((m, _)) = module_of(&f.path) {
            graph.modules.insert(m);
        }
    }
    let lib = files
        .iter()
        .find(|f| f.path == "lib.rs")
        .map(|f| strip_test_items(&strip_comments_and_literals(&f.text)))
        .unwrap_or_default();
    let reexports = root_reexports(&lib, &graph.modules);
    for f in files {
        let Some((from, depth)) = module_of(&f.path) else {
            continue;
        };
        let text = strip_test_items(&strip_comments_and_literals(&f.text));
        for (name, line) in references(&text, depth) {
            let to = if graph.modules.contains(&name) {
                name
            } else if let Some(m) = reexports.get(&name) {
                m.clone()
            } else {
                continue;
            };
            if to != from {
                graph.edges.push(Edge {
                    from: from.clone(),
                    to,
                    file: f.path.clone(),
                    line,
                });
            }
        }
    }
    graph.edges.sort();
    graph.edges.dedup();
    graph
}

impl Graph {
    fn successors(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut out: BTreeMap<&str, BTreeSet<&str>> = self
            .modules
            .iter()
            .map(|m| (m.as_str(), BTreeSet::new()))
            .collect();
        for e in &self.edges {
            out.entry(e.from.as_str())
                .or_default()
                .insert(e.to.as_str());
        }
        out
    }

    /// Strongly connected components of more than one module (Tarjan), each sorted.
    fn cycles(&self) -> Vec<Vec<String>> {
        struct Tarjan<'a> {
            succ: BTreeMap<&'a str, BTreeSet<&'a str>>,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            next: usize,
            found: Vec<Vec<String>>,
        }
        impl<'a> Tarjan<'a> {
            fn visit(&mut self, v: &'a str) {
                self.index.insert(v, self.next);
                self.low.insert(v, self.next);
                self.next += 1;
                self.stack.push(v);
                self.on_stack.insert(v);
                let succ: Vec<&'a str> = self.succ[v].iter().copied().collect();
                for w in succ {
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low.get_mut(v).unwrap();
                        *lv = (*lv).min(lw);
                    } else if self.on_stack.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low.get_mut(v).unwrap();
                        *lv = (*lv).min(iw);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut scc = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        scc.push(w.to_owned());
                        if w == v {
                            break;
                        }
                    }
                    if scc.len() > 1 {
                        scc.sort();
                        self.found.push(scc);
                    }
                }
            }
        }
        let succ = self.successors();
        let nodes: Vec<&str> = succ.keys().copied().collect();
        let mut t = Tarjan {
            succ,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            found: Vec::new(),
        };
        for v in nodes {
            if !t.index.contains_key(v) {
                t.visit(v);
            }
        }
        t.found.sort();
        t.found
    }

    /// The layers of an acyclic graph, bottom first: a module's layer is one above the highest
    /// layer of what it uses.
    fn layers(&self) -> Vec<Vec<String>> {
        let succ = self.successors();
        let mut layer: BTreeMap<&str, usize> = BTreeMap::new();
        // Longest-path layering by repeated relaxation (the graph is small and acyclic).
        for _ in 0..=succ.len() {
            for (m, deps) in &succ {
                let l = deps.iter().map(|d| layer.get(d).map_or(1, |l| l + 1)).max();
                layer.insert(m, l.unwrap_or(0));
            }
        }
        let mut out: Vec<Vec<String>> = Vec::new();
        for (m, l) in layer {
            if out.len() <= l {
                out.resize(l + 1, Vec::new());
            }
            out[l].push(m.to_owned());
        }
        out
    }

    /// Each cycle with the references that make its edges.
    fn report(&self, cycles: &[Vec<String>]) -> String {
        let mut out = String::new();
        for scc in cycles {
            out.push_str(&format!("cycle among {}:\n", scc.join(", ")));
            for e in &self.edges {
                if scc.contains(&e.from) && scc.contains(&e.to) {
                    out.push_str(&format!(
                        "  {} -> {}  (src/{}:{})\n",
                        e.from, e.to, e.file, e.line
                    ));
                }
            }
        }
        out
    }
}

fn read_sources(dir: &Path, root: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap();
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push(Source {
                path: rel,
                text: std::fs::read_to_string(&path).unwrap(),
            });
        }
    }
}

/// The top-level modules that handle requests: they call `Registry` methods, never the
/// database.
const HANDLER_MODULES: &[&str] = &["app", "http", "web"];

/// A use of the database in a handler module.
#[derive(Debug, PartialEq, Eq)]
struct DatabaseUse {
    file: String,
    line: usize,
    what: &'static str,
}

/// Every `sqlx` (the driver), `Db` (the database handle) and `.db` (the registry's database:
/// the field, or `db()`) in the files of [`HANDLER_MODULES`], outside comments, literals and
/// `#[cfg(test)]` items. `crate::db::VersionRow` and other row types stay allowed: a handler
/// may hold what a `Registry` method returns.
fn database_uses(files: &[Source]) -> Vec<DatabaseUse> {
    let mut found = Vec::new();
    for f in files {
        let Some((module, _)) = module_of(&f.path) else {
            continue;
        };
        if !HANDLER_MODULES.contains(&module.as_str()) {
            continue;
        }
        let text = strip_test_items(&strip_comments_and_literals(&f.text));
        let c: Vec<char> = text.chars().collect();
        let line_of = |i: usize| c[..i].iter().filter(|&&ch| ch == '\n').count() + 1;
        let mut i = 0;
        while i < c.len() {
            if !is_ident(c[i]) || (i > 0 && is_ident(c[i - 1])) {
                i += 1;
                continue;
            }
            let Some((word, after)) = ident_at(&c, i) else {
                i += 1;
                continue;
            };
            // The character before the word, across whitespace (`s.registry\n    .db`).
            let before = c[..i].iter().rposition(|ch| !ch.is_whitespace());
            let after_dot = before.is_some_and(|b| {
                c[b] == '.' && (b == 0 || c[b - 1] != '.') // `..db` is a range
            });
            let what = match word.as_str() {
                "sqlx" => Some("sqlx"),
                "Db" => Some("Db"),
                "db" if after_dot => Some(".db"),
                _ => None,
            };
            if let Some(what) = what {
                found.push(DatabaseUse {
                    file: f.path.clone(),
                    line: line_of(i),
                    what,
                });
            }
            i = after;
        }
    }
    found
}

fn database_report(uses: &[DatabaseUse]) -> String {
    uses.iter()
        .map(|u| format!("  src/{}:{}: {}\n", u.file, u.line, u.what))
        .collect()
}

#[test]
fn handlers_never_reach_the_database() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_sources(&src, &src, &mut files);
    let handler_files = files
        .iter()
        .filter_map(|f| module_of(&f.path))
        .filter(|(m, _)| HANDLER_MODULES.contains(&m.as_str()))
        .count();
    assert!(
        handler_files > 10,
        "the rule found too few handler files to be trusted: {handler_files}"
    );
    let uses = database_uses(&files);
    assert!(
        uses.is_empty(),
        "web/, http/ and app/ must call Registry methods, never the database (issue 13):\n{}",
        database_report(&uses)
    );
}

#[test]
fn server_modules_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_sources(&src, &src, &mut files);
    let graph = analyse(&files);
    assert!(
        graph.modules.len() > 10 && graph.edges.len() > 50,
        "the analyser found too little to be trusted: {} modules, {} edges",
        graph.modules.len(),
        graph.edges.len()
    );
    let cycles = graph.cycles();
    assert!(
        cycles.is_empty(),
        "module cycles in crates/server/src (issue 13):\n{}",
        graph.report(&cycles)
    );
    println!("layer order of the server's modules, bottom first (each uses only layers below):");
    for (i, layer) in graph.layers().iter().enumerate() {
        println!("  {i}: {}", layer.join(", "));
    }
}

fn source(path: &str, text: &str) -> Source {
    Source {
        path: path.to_owned(),
        text: text.to_owned(),
    }
}

/// The analyser on a small crate with a cycle a -> b -> c -> a, written the ways the server's
/// files are, and references it must ignore.
#[test]
fn analyser_finds_a_cycle_and_ignores_comments_literals_and_tests() {
    let files = [
        source(
            "lib.rs",
            "mod a;\nmod b;\nmod c;\nmod d;\npub use c::{Thing, other::More as Alias};\n",
        ),
        source("a.rs", "use crate::{b::{X, Y}, NotAModule};\n"),
        source(
            "b/mod.rs",
            "mod inner;\n// crate::d in a comment\nconst S: &str = \"crate::d\";\nconst R: &str = r#\"crate::d\"#;\n",
        ),
        source("b/inner.rs", "fn f() -> super::super::c::Z { todo!() }\n"),
        source(
            "c.rs",
            "fn g<'a>(x: &'a str) -> char { crate::a::h(); '{' }\n",
        ),
        source(
            "d.rs",
            "/* crate::a /* nested */ crate::b */\npub struct Thing;\n#[cfg(test)]\n#[allow(unused)]\nmod tests {\n    use crate::c;\n    fn t() { crate::a::h() }\n}\nfn after() -> crate::Alias { todo!() }\n",
        ),
    ];
    let graph = analyse(&files);
    let pairs: BTreeSet<(&str, &str)> = graph
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    let expected: BTreeSet<(&str, &str)> = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "c")]
        .into_iter()
        .collect();
    assert_eq!(pairs, expected);
    let cycles = graph.cycles();
    assert_eq!(
        cycles,
        vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
    );
    let report = graph.report(&cycles);
    assert!(report.contains("b -> c  (src/b/inner.rs:1)"), "{report}");
    assert!(report.contains("c -> a  (src/c.rs:1)"), "{report}");
    assert!(report.contains("a -> b  (src/a.rs:1)"), "{report}");
    assert!(!report.contains("d ->"), "{report}");

    // Without the back edge the graph layers: c, then b and d, then a.
    let acyclic: Vec<Source> = files
        .iter()
        .map(|f| source(&f.path, &f.text.replace("crate::a::h(); ", "")))
        .collect();
    let graph = analyse(&acyclic);
    assert!(graph.cycles().is_empty());
    assert_eq!(
        graph.layers(),
        vec![
            vec!["c".to_owned()],
            vec!["b".to_owned(), "d".to_owned()],
            vec!["a".to_owned()]
        ]
    );
}

/// The database rule on a small crate: uses in handler modules, written the ways the server's
/// files are, are found with their lines; comments, literals, tests, ranges, longer names and
/// modules below the handlers are left alone.
#[test]
fn database_rule_finds_uses_in_handlers_only() {
    let files = [
        source("lib.rs", "mod app;\nmod http;\nmod registry;\nmod web;\n"),
        source(
            "web/a.rs",
            "fn f(s: &S) {\n    s.registry.db.find_user(\"x\");\n}\n",
        ),
        source(
            "web/b/mod.rs",
            "fn g(s: &S) {\n    s.registry\n        .db()\n        .ping();\n}\n",
        ),
        source(
            "http/c.rs",
            "use sqlx::Row as _;\nfn h(d: &crate::db::Db) -> crate::db::VersionRow { todo!() }\n",
        ),
        source(
            "app/mod.rs",
            "// s.registry.db.find_user(name)\n/* sqlx::query */\nconst S: &str = \".db. sqlx:: Db\";\n\
             fn ok(x: &X, db: usize) { x.dbx(); x.my_db(); let r = 0..db; let y = db; }\n\
             #[cfg(test)]\nmod tests {\n    fn t(s: &S) { s.registry.db().ping(); }\n}\n",
        ),
        source(
            "registry/mod.rs",
            "fn r(&self) { self.db.ping(); sqlx::query(\"\"); let d: &Db = &self.db; }\n",
        ),
    ];
    let uses = database_uses(&files);
    let got: Vec<(&str, usize, &str)> = uses
        .iter()
        .map(|u| (u.file.as_str(), u.line, u.what))
        .collect();
    assert_eq!(
        got,
        vec![
            ("web/a.rs", 2, ".db"),
            ("web/b/mod.rs", 3, ".db"),
            ("http/c.rs", 1, "sqlx"),
            ("http/c.rs", 2, "Db"),
        ]
    );
    let report = database_report(&uses);
    assert!(report.contains("  src/web/b/mod.rs:3: .db\n"), "{report}");

    // Without those uses the rule passes.
    let clean: Vec<Source> = files
        .iter()
        .filter(|f| !f.path.starts_with("web/") && !f.path.starts_with("http/"))
        .map(|f| source(&f.path, &f.text))
        .collect();
    assert!(database_uses(&clean).is_empty());
}
