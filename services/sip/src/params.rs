//! Generic `;name=value` parameters of URIs and headers. Names compare case-insensitively;
//! values are kept as written (a quoted value keeps its quotes) so printing is faithful.

use crate::Text;
use crate::scan::{Cursor, Gather, is_token_byte};

/// A parameter value: a token, or a host (IPv6 references and the colons in them).
fn is_value_byte(b: u8) -> bool {
    VALUE[usize::from(b)]
}

const VALUE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = is_token_byte(b) || matches!(b, b':' | b'[' | b']');
        i += 1;
    }
    t
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Text,
    pub value: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    pub fn new() -> Self {
        Params(Vec::new())
    }

    /// The value of `name`: `Some(None)` for a flag parameter such as `;lr` or `;rport`.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// The value of `name` when it has one.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets (or replaces) `name`.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(Text::from);
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.0.push(Param {
                name: name.into(),
                value,
            }),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }

    /// Parses `;a=b;c` from the cursor, stopping at the first byte that cannot continue
    /// a parameter list (`,`, `>`, `?`, end). Values may be tokens, hosts or quoted strings.
    pub(crate) fn parse(c: &mut Cursor<'_>) -> Result<Params, String> {
        if !c.eat(b';') {
            return Ok(Params::new());
        }
        let mut params = Gather::<(&str, Option<&str>), 6>::new(("", None));
        loop {
            c.skip_ws();
            let name = c.token().ok_or_else(|| {
                format!(
                    "empty parameter name before {:?}",
                    crate::error::truncate(c.rest(), 20)
                )
            })?;
            let value = if c.eat(b'=') {
                c.skip_ws();
                if c.peek() == Some(b'"') {
                    Some(
                        c.quoted_raw()
                            .ok_or("unterminated quoted parameter value")?,
                    )
                } else {
                    let v = c
                        .take_while(is_value_byte)
                        .ok_or_else(|| format!("parameter {name} has an empty value"))?;
                    Some(v)
                }
            } else {
                None
            };
            params.push((name, value));
            if !c.eat(b';') {
                break;
            }
        }
        params
            .try_map(|(name, value)| {
                Ok(Param {
                    name: name.into(),
                    value: value.map(Text::from),
                })
            })
            .map(Params)
    }

    pub(crate) fn print(&self, out: &mut String) {
        for p in &self.0 {
            out.push(';');
            out.push_str(&p.name);
            if let Some(v) = &p.value {
                out.push('=');
                out.push_str(v);
            }
        }
    }
}
