//! Reason (RFC 3326): why a request (BYE, CANCEL) was sent.

use crate::Text;
use crate::error::ParseError;
use crate::params::Params;
use crate::scan::Cursor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `SIP` or `Q.850`, ...
    pub protocol: Text,
    pub params: Params,
}

impl Reason {
    pub fn sip(cause: u16, text: &str) -> Self {
        let mut params = Params::new();
        params.set("cause", Some(&cause.to_string()));
        let mut quoted = String::new();
        crate::scan::quote_into(text, &mut quoted);
        params.set("text", Some(&quoted));
        Reason {
            protocol: "SIP".into(),
            params,
        }
    }

    pub fn cause(&self) -> Option<u16> {
        self.params.value("cause").and_then(|c| c.parse().ok())
    }

    pub fn text(&self) -> Option<String> {
        self.params
            .value("text")
            .map(|t| crate::scan::unquote(t).into_string())
    }

    pub fn parse(s: &str) -> Result<Reason, ParseError> {
        let err = |r: String| ParseError::header("Reason", r);
        let mut c = Cursor::new(s);
        let protocol = c
            .token()
            .ok_or_else(|| err("missing protocol".into()))?
            .into();
        let params = Params::parse(&mut c).map_err(err)?;
        c.skip_ws();
        if !c.is_empty() {
            return Err(err("unexpected text after parameters".into()));
        }
        Ok(Reason { protocol, params })
    }

    pub(crate) fn print(&self, out: &mut String) {
        out.push_str(&self.protocol);
        self.params.print(out);
    }
}
