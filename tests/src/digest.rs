//! The client side of SIP digest authentication (RFC 8760: MD5 and SHA-256, qop=auth), to
//! answer whichever challenge a test picks from a 401.

use md5::Md5;
use sha2::{Digest, Sha256};

/// One `WWW-Authenticate: Digest ...` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    /// As offered (`MD5` when absent).
    pub algorithm: String,
    pub qop: Option<String>,
    pub opaque: Option<String>,
    pub stale: bool,
}

/// Splits `a=1, b="x, y"` at the commas outside quotes into (name, unquoted value).
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let push = |p: &str, out: &mut Vec<(String, String)>| {
        if let Some((k, v)) = p.split_once('=') {
            out.push((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            ));
        }
    };
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => {
                push(&current, &mut out);
                current.clear();
            }
            _ => current.push(c),
        }
    }
    push(&current, &mut out);
    out
}

impl Challenge {
    /// Parses a WWW-Authenticate value; `None` unless it is a Digest challenge with a realm and nonce.
    pub fn parse(value: &str) -> Option<Challenge> {
        let (scheme, rest) = value.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let ps = params(rest);
        let get = |k: &str| ps.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            algorithm: get("algorithm").unwrap_or_else(|| "MD5".into()),
            qop: get("qop"),
            opaque: get("opaque"),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Whether qop=auth is among the offered qop values.
    pub fn offers_qop_auth(&self) -> bool {
        self.qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|v| v.trim() == "auth"))
    }
}

fn hash(algorithm: &str, data: &str) -> String {
    if algorithm.eq_ignore_ascii_case("SHA-256") {
        hex::encode(Sha256::digest(data.as_bytes()))
    } else if algorithm.eq_ignore_ascii_case("MD5") {
        hex::encode(Md5::digest(data.as_bytes()))
    } else {
        panic!("the test client does not implement digest algorithm {algorithm}")
    }
}

/// Credentials for one request.
#[derive(Debug, Clone)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    /// Nonce count (1 for the first use of a nonce).
    pub nc: u32,
    pub cnonce: &'a str,
}

/// The Authorization header value answering `challenge` (qop=auth when offered).
pub fn authorization(challenge: &Challenge, c: &Credentials<'_>) -> String {
    let alg = challenge.algorithm.as_str();
    let ha1 = hash(
        alg,
        &format!("{}:{}:{}", c.username, challenge.realm, c.password),
    );
    let ha2 = hash(alg, &format!("{}:{}", c.method, c.uri));
    let mut value = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={alg}",
        c.username, challenge.realm, challenge.nonce, c.uri
    );
    let response = if challenge.offers_qop_auth() {
        let nc = format!("{:08x}", c.nc);
        value.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{}\"", c.cnonce));
        hash(
            alg,
            &format!("{ha1}:{}:{nc}:{}:auth:{ha2}", challenge.nonce, c.cnonce),
        )
    } else {
        hash(alg, &format!("{ha1}:{}:{ha2}", challenge.nonce))
    };
    value.push_str(&format!(", response=\"{response}\""));
    if let Some(o) = &challenge.opaque {
        value.push_str(&format!(", opaque=\"{o}\""));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        let c = Challenge::parse(
            "Digest realm=\"cc.local\", qop=\"auth,auth-int\", algorithm=SHA-256, nonce=\"n1\"",
        )
        .unwrap();
        assert_eq!(c.realm, "cc.local");
        assert_eq!(c.algorithm, "SHA-256");
        assert!(c.offers_qop_auth());
        assert_eq!(Challenge::parse("Basic realm=\"x\""), None);
    }

    #[test]
    fn rfc2617_example_response() {
        // RFC 2617 3.5 (HTTP, but the computation is the same).
        let c = Challenge::parse("Digest realm=\"testrealm@host.com\", qop=\"auth\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"").unwrap();
        let v = authorization(
            &c,
            &Credentials {
                username: "Mufasa",
                password: "Circle Of Life",
                method: "GET",
                uri: "/dir/index.html",
                nc: 1,
                cnonce: "0a4f113b",
            },
        );
        assert!(
            v.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{v}"
        );
    }
}
