//! Authorization, Proxy-Authorization, WWW-Authenticate and Proxy-Authenticate values:
//! a scheme and a comma-separated list of `name=value` parameters (RFC 7616/7235).

use crate::Text;
use std::fmt;

use crate::error::ParseError;
use crate::scan::{Cursor, Gather, quote_into, unquote};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParam {
    pub name: Text,
    /// Unquoted value.
    pub value: Text,
    /// Whether the value is printed as a quoted-string.
    pub quoted: bool,
}

/// A challenge or credentials: `Digest realm="x", nonce="y", ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub scheme: Text,
    pub params: Vec<AuthParam>,
}

impl Auth {
    pub fn digest() -> Self {
        Auth {
            scheme: "Digest".into(),
            params: Vec::new(),
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }

    /// Appends a parameter (builder style).
    pub fn with(mut self, name: &str, value: &str, quoted: bool) -> Self {
        self.params.push(AuthParam {
            name: name.into(),
            value: value.into(),
            quoted,
        });
        self
    }

    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    pub fn parse(s: &str, header: &'static str) -> Result<Auth, ParseError> {
        let err = |r: &str| ParseError::header(header, r);
        let mut c = Cursor::new(s);
        let scheme = c.token().ok_or_else(|| err("missing auth scheme"))?.into();
        // Name, value as written and whether it is quoted; converted once the count is
        // known, into a list of exactly that length.
        let mut raw = Gather::<(&str, &str, bool), 12>::new(("", "", false));
        loop {
            c.skip_ws();
            if c.is_empty() {
                break;
            }
            let name = c.token().ok_or_else(|| err("expected a parameter name"))?;
            if !c.eat(b'=') {
                return Err(err("expected '=' after parameter name"));
            }
            c.skip_ws();
            let (value, quoted) = if c.peek() == Some(b'"') {
                let q = c
                    .quoted_raw()
                    .ok_or_else(|| err("unterminated quoted value"))?;
                (q, true)
            } else {
                let t = c.token().ok_or_else(|| err("empty parameter value"))?;
                (t, false)
            };
            raw.push((name, value, quoted));
            if !c.eat(b',') {
                c.skip_ws();
                if !c.is_empty() {
                    return Err(err("expected ',' between parameters"));
                }
            }
        }
        let params = raw.try_map(|(name, value, quoted)| {
            Ok::<_, ParseError>(AuthParam {
                name: name.into(),
                value: if quoted { unquote(value) } else { value.into() },
                quoted,
            })
        })?;
        Ok(Auth { scheme, params })
    }

    pub(crate) fn print(&self, out: &mut String) {
        out.push_str(&self.scheme);
        for (i, p) in self.params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(&p.name);
            out.push('=');
            if p.quoted {
                quote_into(&p.value, out);
            } else {
                out.push_str(&p.value);
            }
        }
    }
}

impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.print(&mut s);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digest_credentials() {
        let a = Auth::parse(
            r#"Digest username="201", realm="cc.local", nonce="abc,def", uri="sip:cc.local", response="0a1b", algorithm=MD5, qop=auth, nc=00000001, cnonce="xyz""#,
            "Authorization",
        )
        .unwrap();
        assert!(a.is_digest());
        assert_eq!(a.param("NONCE"), Some("abc,def"));
        assert_eq!(a.param("nc"), Some("00000001"));
        let again = Auth::parse(&a.to_string(), "Authorization").unwrap();
        assert_eq!(again, a);
    }

    #[test]
    fn rejects_bad_auth() {
        for bad in [
            "",
            "Digest realm",
            "Digest realm=\"x",
            "Digest a=b c=d",
            "Digest a=",
        ] {
            assert!(Auth::parse(bad, "Authorization").is_err(), "{bad}");
        }
    }
}
