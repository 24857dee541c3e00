//! A small XML tree that keeps what it does not understand — comments, unknown sections,
//! attribute order, whitespace — so that writing a `nuget.config` back changes only the
//! elements signet edits. Hand-written on quick-xml's reader because the config must survive a
//! round trip with its comments (the XML tree crates that build on quick-xml drop them), and
//! because DTDs must be refused (no entity expansion, ever).

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// Deepest element nesting accepted (nuget.config nests 4 levels).
pub const MAX_DEPTH: usize = 32;
/// Most elements accepted in one file.
pub const MAX_ELEMENTS: usize = 100_000;

/// One node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// Text (unescaped), whitespace included.
    Text(String),
    /// A comment's content.
    Comment(String),
}

/// An element with its attributes in document order and its children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// The element name as written.
    pub name: String,
    /// Attributes (name, unescaped value) in document order.
    pub attributes: Vec<(String, String)>,
    /// Child nodes.
    pub children: Vec<Node>,
}

impl Element {
    /// A new empty element.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Self::default()
        }
    }

    /// With an attribute appended.
    pub fn with_attr(mut self, name: &str, value: &str) -> Self {
        self.attributes.push((name.to_string(), value.to_string()));
        self
    }

    /// The value of attribute `name` (case-sensitive, as NuGet reads attributes).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element named `name` (case-sensitive).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// The first child element named `name`, created (indented for `depth`) when missing.
    /// Always `Some`; an `Option` keeps the lookup free of panics.
    pub fn child_or_insert(&mut self, name: &str, depth: usize) -> Option<&mut Element> {
        if !self.elements().any(|e| e.name == name) {
            self.push_element(Element::new(name), depth);
        }
        self.children.iter_mut().find_map(|n| match n {
            Node::Element(e) if e.name == name => Some(e),
            _ => None,
        })
    }

    /// Appends `child` as the last element, indented as a child of an element at `depth`
    /// (two spaces per level, as NuGet writes).
    pub fn push_element(&mut self, child: Element, depth: usize) {
        let indent = "  ".repeat(depth + 1);
        // Drop the whitespace before the closing tag, then re-add it after the new child.
        if let Some(Node::Text(t)) = self.children.last()
            && t.trim().is_empty()
        {
            self.children.pop();
        }
        self.children.push(Node::Text(format!("\n{indent}")));
        self.children.push(Node::Element(child));
        self.children
            .push(Node::Text(format!("\n{}", "  ".repeat(depth))));
    }

    /// Removes the child elements for which `remove` is true, with the whitespace before them.
    pub fn remove_elements(&mut self, mut remove: impl FnMut(&Element) -> bool) -> usize {
        let mut out = Vec::with_capacity(self.children.len());
        let mut removed = 0;
        for node in std::mem::take(&mut self.children) {
            match &node {
                Node::Element(e) if remove(e) => {
                    removed += 1;
                    if let Some(Node::Text(t)) = out.last()
                        && t.trim().is_empty()
                    {
                        out.pop();
                    }
                }
                _ => out.push(node),
            }
        }
        if removed > 0 && !out.iter().any(|n| matches!(n, Node::Element(_))) {
            out.retain(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()));
        }
        self.children = out;
        removed
    }
}

/// A parsed document: whether it had an XML declaration, and its root element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// The root element.
    pub root: Element,
}

/// Parses `text`. DTDs and processing instructions other than the XML declaration are refused;
/// so are more than [`MAX_DEPTH`] levels or [`MAX_ELEMENTS`] elements.
pub fn parse(text: &str) -> Result<Document, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::new("#document")];
    let mut elements = 0usize;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("invalid XML at byte {pos}: {e}"))?;
        match event {
            Event::Decl(_) => {}
            Event::DocType(_) => return Err("DTDs are not allowed in config files".into()),
            Event::PI(_) => return Err("processing instructions are not allowed".into()),
            Event::Start(e) | Event::Empty(e) if stack.len() > MAX_DEPTH => {
                return Err(format!(
                    "<{}> is nested more than {MAX_DEPTH} levels deep",
                    String::from_utf8_lossy(e.name().as_ref())
                ));
            }
            Event::Start(e) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(format!("more than {MAX_ELEMENTS} elements"));
                }
                stack.push(element_of(&e)?);
            }
            Event::Empty(e) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(format!("more than {MAX_ELEMENTS} elements"));
                }
                let el = element_of(&e)?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Element(el));
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err("unbalanced end tag".into());
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => return Err("unbalanced end tag".into()),
                }
            }
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| format!("invalid text: {e}"))?
                    .to_string();
                let s = quick_xml::escape::unescape(&s)
                    .map_err(|e| format!("invalid text: {e}"))?
                    .to_string();
                push_text(&mut stack, s)?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| format!("invalid entity: {e}"))?;
                let s = quick_xml::escape::unescape(&format!("&{name};"))
                    .map_err(|e| format!("invalid entity: {e}"))?
                    .to_string();
                push_text(&mut stack, s)?;
            }
            Event::CData(c) => {
                let s = String::from_utf8_lossy(&c.into_inner()).to_string();
                push_text(&mut stack, s)?;
            }
            Event::Comment(c) => {
                let s = String::from_utf8_lossy(&c.into_inner()).to_string();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Comment(s));
                }
            }
            Event::Eof => break,
        }
    }
    if stack.len() != 1 {
        return Err("the document ends inside an element".into());
    }
    let doc = stack.pop().unwrap_or_default();
    let mut roots = doc.children.into_iter().filter_map(|n| match n {
        Node::Element(e) => Some(e),
        _ => None,
    });
    let root = roots.next().ok_or("the document has no root element")?;
    if roots.next().is_some() {
        return Err("the document has more than one root element".into());
    }
    Ok(Document { root })
}

fn push_text(stack: &mut [Element], s: String) -> Result<(), String> {
    // XML 1.0 `Char` (§2.2): what .NET's reader refuses, this one does too, so a file signet
    // reads is a file it can write back and NuGet can read.
    if !s.chars().all(xml_char) {
        return Err("the text holds a control character XML does not allow".into());
    }
    if let Some(parent) = stack.last_mut() {
        if let Some(Node::Text(prev)) = parent.children.last_mut() {
            prev.push_str(&s);
        } else {
            parent.children.push(Node::Text(s));
        }
    }
    Ok(())
}

/// quick-xml's reader takes any bytes up to whitespace, `/` or `>` as a name; refuse what
/// `write` could not give back as one name (found by the `config` fuzz target: `<a"b/>`).
fn checked_name(raw: &[u8]) -> Result<String, String> {
    let name = String::from_utf8_lossy(raw).into_owned();
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'<>=/&".contains(c))
    {
        return Err(format!("invalid name {name:?}"));
    }
    Ok(name)
}

fn element_of(e: &BytesStart<'_>) -> Result<Element, String> {
    let mut el = Element::new(&checked_name(e.name().as_ref())?);
    for a in e.attributes() {
        let a = a.map_err(|err| format!("invalid attribute: {err}"))?;
        let v = a
            .unescape_value()
            .map_err(|err| format!("invalid attribute: {err}"))?
            .to_string();
        if !v.chars().all(xml_char) {
            return Err("an attribute holds a control character XML does not allow".into());
        }
        // Attribute-value normalisation (XML 1.0 §3.3.3), as NuGet's reader applies it.
        let v = v.replace(['\t', '\n', '\r'], " ");
        el.attributes.push((checked_name(a.key.as_ref())?, v));
    }
    Ok(el)
}

/// Serialises with an XML declaration, as NuGet writes config files.
pub fn write(doc: &Document) -> Result<String, String> {
    let mut w = quick_xml::Writer::new(Vec::new());
    let io = |e: std::io::Error| e.to_string();
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .map_err(io)?;
    w.write_event(Event::Text(BytesText::new("\n")))
        .map_err(io)?;
    write_element(&mut w, &doc.root)?;
    w.write_event(Event::Text(BytesText::new("\n")))
        .map_err(io)?;
    String::from_utf8(w.into_inner()).map_err(|e| e.to_string())
}

/// Whether XML 1.0 allows `c` in a document at all (`Char`, §2.2): no other control
/// character may be written, escaped or not.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn write_element(w: &mut quick_xml::Writer<Vec<u8>>, e: &Element) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let mut start = BytesStart::new(e.name.as_str());
    for (k, v) in &e.attributes {
        // NuGet's reader (and any conforming one) refuses the file otherwise; a tab or line
        // break would come back as a space (attribute-value normalisation).
        if v.chars()
            .any(|c| !xml_char(c) || matches!(c, '\t' | '\n' | '\r'))
        {
            return Err(format!(
                "the value of {k:?} on <{}> holds a control character, which nuget.config cannot hold",
                e.name
            ));
        }
        start.push_attribute((k.as_str(), v.as_str()));
    }
    if e.children.is_empty() {
        return w.write_event(Event::Empty(start)).map_err(io);
    }
    w.write_event(Event::Start(start)).map_err(io)?;
    for child in &e.children {
        match child {
            Node::Element(c) => write_element(w, c)?,
            Node::Text(t) => {
                if !t.chars().all(xml_char) {
                    return Err(format!(
                        "the text of <{}> holds a control character, which nuget.config cannot hold",
                        e.name
                    ));
                }
                w.write_event(Event::Text(BytesText::new(t))).map_err(io)?
            }
            Node::Comment(c) => w
                .write_event(Event::Comment(BytesText::from_escaped(c.as_str())))
                .map_err(io)?,
        }
    }
    w.write_event(Event::End(BytesEnd::new(e.name.as_str())))
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_never_written() {
        for bad in ["a\u{1b}[31m", "a\u{7}", "line\nbreak", "tab\there"] {
            let mut doc = parse("<configuration/>").unwrap_or_else(|e| panic!("{e}"));
            doc.root
                .push_element(Element::new("x").with_attr("value", bad), 0);
            assert!(write(&doc).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trips_comments_and_unknown_sections() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <!-- keep me -->\n  <packageSources>\n    <add key=\"a &amp; b\" value=\"https://x/index.json\" />\n  </packageSources>\n  <other x=\"1\">text</other>\n</configuration>\n";
        let doc = parse(text).unwrap_or_else(|e| panic!("{e}"));
        let out = write(&doc).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.replace("\"/>", "\" />"), text);
        assert_eq!(parse(&out).ok(), Some(doc));
    }

    #[test]
    fn refuses_dtds_and_deep_nesting() {
        assert!(parse("<!DOCTYPE x [<!ENTITY a 'b'>]><configuration/>").is_err());
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("nested"));
        assert!(parse("<a></b>").is_err());
        assert!(parse("<a/><b/>").is_err());
        // Names `write` could not give back.
        assert!(parse("<a\"b/>").is_err());
        assert!(parse("<a x\"=\"1\"/>").is_err());
    }
}
