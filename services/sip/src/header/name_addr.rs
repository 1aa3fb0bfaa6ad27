//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route, Refer-To.

use crate::Text;
use std::fmt;

use crate::error::ParseError;
use crate::params::Params;
use crate::scan::{Cursor, quote_into, trim, unquote};
use crate::uri::Uri;

/// `"Display" <uri>;params` or `uri;params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<Text>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn new(uri: Uri) -> Self {
        NameAddr {
            display: None,
            uri,
            params: Params::new(),
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    pub fn with_tag(mut self, tag: &str) -> Self {
        self.params.set("tag", Some(tag));
        self
    }

    pub fn parse(s: &str, header: &'static str) -> Result<NameAddr, ParseError> {
        let err = |r: String| ParseError::header(header, r);
        let mut c = Cursor::new(s);
        c.skip_ws();
        // Most values open with '<' or a quoted display name; only a bare display name or
        // an addr-spec needs the scan for an unquoted '<'.
        let bracketed = matches!(c.peek(), Some(b'"' | b'<')) || has_unquoted_angle(s);
        let (display, uri_s) = if bracketed {
            let display = if c.peek() == Some(b'"') {
                let q = c
                    .quoted_raw()
                    .ok_or_else(|| err("unterminated display name".into()))?;
                Some(unquote(q))
            } else {
                let d = trim(c.take_until(b"<"));
                (!d.is_empty()).then(|| d.into())
            };
            if !c.eat(b'<') {
                return Err(err("expected '<' before the URI".into()));
            }
            let uri = c.take_until(b">");
            if !c.eat(b'>') {
                return Err(err("missing '>' after the URI".into()));
            }
            (display, trim(uri))
        } else {
            (None, trim(c.take_until(b"; \t")))
        };
        let uri = Uri::parse(uri_s).map_err(|e| err(e.to_string()))?;
        let params = Params::parse(&mut c).map_err(err)?;
        c.skip_ws();
        if !c.is_empty() {
            return Err(err(format!(
                "unexpected text {:?} after the address",
                crate::error::truncate(c.rest(), 20)
            )));
        }
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    pub(crate) fn print(&self, out: &mut String) {
        if let Some(d) = &self.display {
            quote_into(d, out);
            out.push(' ');
        }
        out.push('<');
        self.uri.print(out);
        out.push('>');
        self.params.print(out);
    }
}

fn has_unquoted_angle(s: &str) -> bool {
    let mut in_q = false;
    let mut esc = false;
    for b in s.bytes() {
        match b {
            _ if esc => esc = false,
            b'\\' if in_q => esc = true,
            b'"' => in_q = !in_q,
            b'<' if !in_q => return true,
            _ => {}
        }
    }
    false
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.print(&mut s);
        f.write_str(&s)
    }
}

/// A Contact value: an address or `*` (used to remove all bindings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Wildcard,
    Addr(NameAddr),
}

impl Contact {
    pub fn parse(s: &str) -> Result<Contact, ParseError> {
        if trim(s) == "*" {
            return Ok(Contact::Wildcard);
        }
        NameAddr::parse(s, "Contact").map(Contact::Addr)
    }

    /// The `expires` parameter of this contact.
    pub fn expires(&self) -> Option<u32> {
        match self {
            Contact::Addr(a) => a.params.value("expires").and_then(|e| e.parse().ok()),
            Contact::Wildcard => None,
        }
    }

    pub(crate) fn print(&self, out: &mut String) {
        match self {
            Contact::Wildcard => out.push('*'),
            Contact::Addr(a) => a.print(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(r#""Anna \"K\"" <sip:201@cc.local>;tag=abc"#, "From").unwrap();
        assert_eq!(a.display.as_deref(), Some(r#"Anna "K""#));
        assert_eq!(a.tag(), Some("abc"));
        let b = NameAddr::parse("Anna Kowalska <sip:201@cc.local>", "To").unwrap();
        assert_eq!(b.display.as_deref(), Some("Anna Kowalska"));
        // addr-spec: parameters after ';' belong to the header, not the URI
        let c = NameAddr::parse("sip:201@cc.local;tag=x", "To").unwrap();
        assert_eq!(c.tag(), Some("x"));
        assert!(c.uri.as_sip().unwrap().params.is_empty());
        assert_eq!(c.to_string(), "<sip:201@cc.local>;tag=x");
    }

    #[test]
    fn contact_wildcard_and_expires() {
        assert_eq!(Contact::parse(" * ").unwrap(), Contact::Wildcard);
        let c = Contact::parse("<sip:201@10.0.0.1:5062;transport=tcp>;expires=60;q=0.5").unwrap();
        assert_eq!(c.expires(), Some(60));
    }

    #[test]
    fn rejects_bad_name_addr() {
        for bad in [
            "<sip:a@b",
            "\"x <sip:a@b>",
            "<>",
            "<sip:a@b> junk",
            "nothing",
        ] {
            assert!(NameAddr::parse(bad, "To").is_err(), "{bad}");
        }
    }
}
