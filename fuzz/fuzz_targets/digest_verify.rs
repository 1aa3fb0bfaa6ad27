//! DigestServer::verify on arbitrary Authorization values.
//!
//! The input is one or more (up to 8) Authorization header values, one a line
//! (`Digest username="...", ...`), verified in turn by the same server. So that the fuzzer
//! gets past the nonce MAC and the response hash, placeholders are replaced before parsing:
//! - `@NONCE@` by a nonce the server issued at NOW, `@NONCE2@` by another one issued 5 s
//!   later, `@OLDNONCE@` by one issued 400 s before NOW (expired), `@FUTURENONCE@` by one
//!   issued 20 s after NOW (within the tolerated clock skew);
//! - `@RESPONSE@` by the correct request-digest for the other parameters, computed with
//!   `digest::authorize` and the password the lookup returns.
//!
//! Line k is verified at NOW + 1 + 7k, or at NOW + n if it starts with `@AT<n>@` (n may be
//! negative: clocks step back).
//!
//! Each value is parsed both with `Auth::parse` and inside a full REGISTER message.
//! Properties: nothing panics; what the message parser accepts, `Auth::parse` parses the
//! same; the parsed value prints and parses back equal; a credential that verified with qop is a `Replay` when sent again, and no nonce
//! count is ever accepted twice (or out of order) for a nonce; a credential that verified
//! for REGISTER does not verify for INVITE.
#![no_main]

use cc_sip::digest::{
    Algorithm, ClientCredentials, DigestConfig, DigestError, DigestServer, UserSecret, authorize,
    ha1,
};
use std::collections::HashMap;

use cc_sip::{Auth, Method, parse_message};
use libfuzzer_sys::fuzz_target;

const REALM: &str = "cc.local";
const SECRET: &[u8] = b"0123456789abcdef-fuzz-secret";
const NOW: u64 = 1_700_000_000;
const PASSWORD: &str = "s3cret";

fn servers() -> [DigestServer; 2] {
    let strict = DigestServer::new(DigestConfig::new(REALM, SECRET, 7)).expect("config");
    let mut lax = DigestConfig::new(REALM, SECRET, 7);
    lax.algorithms = vec![
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
    ];
    lax.allow_no_qop = true;
    lax.max_tracked_nonces = 1;
    lax.nonce_lifetime_secs = 60;
    [strict, DigestServer::new(lax).expect("config")]
}

/// "nobody" does not exist, names starting with "ha1" are stored as HA1, others as a
/// password.
fn lookup(user: &str, alg: Algorithm) -> Option<UserSecret> {
    if user == "nobody" {
        None
    } else if user.starts_with("ha1") {
        Some(UserSecret::Ha1(ha1(alg.base(), user, REALM, PASSWORD)))
    } else {
        Some(UserSecret::Password(PASSWORD.to_owned()))
    }
}

fn nonce_at(server: &mut DigestServer, at: u64) -> String {
    let ch = server.challenge(at, false);
    ch[0]
        .param("nonce")
        .expect("challenge has a nonce")
        .to_owned()
}

/// Both ways of parsing an Authorization value; asserts they agree.
fn parse_both(value: &str) -> Option<Auth> {
    // The message parser trims linear white space (SP, HT) around a value, not all of
    // Unicode's white space, and refuses control bytes in any header: it may refuse what
    // `Auth::parse` alone accepts, never the reverse.
    let direct = Auth::parse(value.trim_matches([' ', '\t']), "Authorization").ok();
    let msg = format!(
        "REGISTER sip:cc.local SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz\r\n\
         From: <sip:201@cc.local>;tag=1\r\n\
         To: <sip:201@cc.local>\r\n\
         Call-ID: fuzz\r\n\
         CSeq: 1 REGISTER\r\n\
         Authorization: {value}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let in_message = parse_message(msg.as_bytes())
        .ok()
        .and_then(|m| m.headers().authorization().cloned());
    if in_message.is_some() && !value.contains(['\r', '\n']) {
        assert_eq!(
            in_message, direct,
            "Authorization parsed in a message and alone differ"
        );
    }
    in_message.or(direct)
}

/// The correct response for `a`'s parameters, if they allow computing one.
fn correct_response(a: &Auth, method: &Method) -> Option<String> {
    let mut ch = Auth::digest().with("realm", a.param("realm")?, true).with(
        "nonce",
        a.param("nonce")?,
        true,
    );
    if let Some(alg) = a.param("algorithm") {
        ch = ch.with("algorithm", alg, false);
    }
    let qop = a.param("qop");
    if let Some(q) = qop {
        ch = ch.with("qop", q, true);
    }
    let nc = a
        .param("nc")
        .and_then(|n| u32::from_str_radix(n, 16).ok())
        .unwrap_or(1);
    let creds = ClientCredentials {
        username: a.param("username")?,
        password: PASSWORD,
    };
    let cnonce = a.param("cnonce").unwrap_or("");
    let answer = authorize(&ch, method, a.param("uri")?, creds, cnonce, nc).ok()?;
    answer.param("response").map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let method = Method::Register;
    for (i, mut server) in servers().into_iter().enumerate() {
        let placeholders = [
            ("@NONCE@", nonce_at(&mut server, NOW)),
            ("@NONCE2@", nonce_at(&mut server, NOW + 5)),
            ("@OLDNONCE@", nonce_at(&mut server, NOW - 400)),
            ("@FUTURENONCE@", nonce_at(&mut server, NOW + 20)),
        ];
        // nonce -> highest nonce count accepted with it.
        let mut accepted: HashMap<String, u32> = HashMap::new();
        for (k, line) in text.split('\n').take(8).enumerate() {
            let (now, line) = match at_prefix(line) {
                Some((offset, rest)) => (NOW.saturating_add_signed(offset), rest),
                None => (NOW + 1 + 7 * k as u64, line),
            };
            let mut value = line.to_owned();
            for (p, nonce) in &placeholders {
                value = value.replace(p, nonce);
            }
            if value.contains("@RESPONSE@") {
                let Some(first) = parse_both(&value) else {
                    continue;
                };
                let response = correct_response(&first, &method).unwrap_or_default();
                value = value.replace("@RESPONSE@", &response);
            }
            let Some(auth) = parse_both(&value) else {
                continue;
            };

            // The printer and the parser agree. CR and LF cannot be printed (quote_into drops
            // them); only `Auth::parse` alone accepts them, never the message parser.
            let printable = auth.params.iter().all(|p| !p.value.contains(['\r', '\n']));
            let printed = auth.to_string();
            match Auth::parse(&printed, "Authorization") {
                Ok(again) if printable => {
                    assert_eq!(again, auth, "Auth round trip; printed: {printed:?}")
                }
                Ok(_) => {}
                Err(e) => panic!("printed Auth does not parse: {e}; printed: {printed:?}"),
            }

            let Ok(v) = server.verify(&auth, &method, now, lookup) else {
                continue;
            };
            assert_eq!(Some(v.username.as_str()), auth.param("username"));
            if v.qop.is_some() {
                let nonce = auth.param("nonce").unwrap_or_default().to_owned();
                let nc = auth
                    .param("nc")
                    .and_then(|n| u32::from_str_radix(n, 16).ok())
                    .expect("accepted nc is hex");
                if let Some(before) = accepted.insert(nonce, nc) {
                    assert!(
                        nc > before,
                        "server {i}: nonce count {nc} accepted after {before} for the same nonce"
                    );
                }
                assert_eq!(
                    server.verify(&auth, &method, now, lookup),
                    Err(DigestError::Replay),
                    "server {i}: a replayed credential was not refused"
                );
            }
            // The method is covered by the digest.
            assert_eq!(
                server.verify(&auth, &Method::Invite, now, lookup),
                Err(DigestError::BadResponse),
                "server {i}: credentials for REGISTER verified for INVITE"
            );
        }
    }
});

/// `@AT<n>@rest` -> (n, rest).
fn at_prefix(line: &str) -> Option<(i64, &str)> {
    let rest = line.strip_prefix("@AT")?;
    let (n, rest) = rest.split_once('@')?;
    Some((n.parse().ok()?, rest))
}
