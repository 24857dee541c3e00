//! Rendering strings that came from outside (a package, a signature, a config, a server) for a
//! terminal: one place, used for every such string, so that a hostile value cannot move the
//! cursor, recolour or erase lines, or fake a line of its own.

use std::borrow::Cow;
use std::fmt;

/// Characters that change what a terminal shows rather than being shown: C0 controls (ESC,
/// CR, LF, BS, …), DEL, C1 controls (U+0080–U+009F, among them the 8-bit CSI U+009B), and the
/// Unicode bidirectional controls that reorder what follows them (Trojan Source,
/// CVE-2021-42574).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every unsafe character written visibly as `\u{…}` (and `\` as `\\` when anything
/// was escaped, so the rendering is unambiguous). Borrowed when there is nothing to escape.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// [`terminal_safe`] for whole lines of output that the program composed: line feeds and tabs
/// are kept (the program's own line breaks and column separators; a tab only moves to the next
/// tab stop), everything else unsafe is escaped. The CLI passes every
/// line it prints through this, so no escape sequence reaches the terminal even where an
/// untrusted value was not wrapped in [`Untrusted`]; values are still wrapped where they are
/// interpolated, so that they cannot start a line of their own either.
pub fn terminal_safe_lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| is_unsafe(c) && !(keep_newlines && matches!(c, '\n' | '\t'));
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A [`fmt::Display`] of an untrusted string through [`terminal_safe`]:
/// `format!("{}", Untrusted(&nuspec.id))`.
#[derive(Clone, Copy, Debug)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&terminal_safe(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_draws_on_a_terminal() {
        assert!(matches!(terminal_safe("Contoso.Lib 1.0"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("a\u{1b}[2Kb"), "a\\u{1b}[2Kb");
        assert_eq!(terminal_safe("x\r\ny"), "x\\u{d}\\u{a}y");
        assert_eq!(terminal_safe("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(terminal_safe("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(terminal_safe("a\\b\u{7}"), "a\\\\b\\u{7}");
        assert_eq!(terminal_safe("ünï 名前"), "ünï 名前");
        assert_eq!(
            format!("{}", Untrusted("\u{1b}]0;t\u{7}")),
            "\\u{1b}]0;t\\u{7}"
        );
        assert_eq!(terminal_safe_lines("a\nb\u{1b}c"), "a\nb\\u{1b}c");
        assert!(matches!(terminal_safe_lines("a\nb\tc"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("a\tb"), "a\\u{9}b");
    }
}
