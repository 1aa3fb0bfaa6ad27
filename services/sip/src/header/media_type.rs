//! Content-Type (RFC 3261 20.15).

use crate::Text;
use crate::error::ParseError;
use crate::params::Params;
use crate::scan::Cursor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub top: Text,
    pub sub: Text,
    pub params: Params,
}

impl MediaType {
    pub fn sdp() -> Self {
        MediaType {
            top: "application".into(),
            sub: "sdp".into(),
            params: Params::new(),
        }
    }

    pub fn is(&self, top: &str, sub: &str) -> bool {
        self.top.eq_ignore_ascii_case(top) && self.sub.eq_ignore_ascii_case(sub)
    }

    pub fn parse(s: &str) -> Result<MediaType, ParseError> {
        let err = |r: String| ParseError::header("Content-Type", r);
        let mut c = Cursor::new(s);
        let top = c
            .token()
            .ok_or_else(|| err("missing media type".into()))?
            .into();
        if !c.eat(b'/') {
            return Err(err("expected '/' in media type".into()));
        }
        let sub = c
            .token()
            .ok_or_else(|| err("missing media subtype".into()))?
            .into();
        let params = Params::parse(&mut c).map_err(err)?;
        c.skip_ws();
        if !c.is_empty() {
            return Err(err("unexpected text after media type".into()));
        }
        Ok(MediaType { top, sub, params })
    }

    pub(crate) fn print(&self, out: &mut String) {
        out.push_str(&self.top);
        out.push('/');
        out.push_str(&self.sub);
        self.params.print(out);
    }
}
