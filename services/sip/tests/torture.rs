//! Torture corpus in the spirit of RFC 4475: every `tests/torture/<name>.sip` is one message as
//! exact bytes, and `tests/torture/EXPECTED.toml` says whether it must parse or be rejected.
//!
//! For every message that parses, printing and parsing again must give the same message (up to
//! Content-Length, which the printer always writes itself, last, equal to the body length) and
//! the printed header block must be clean (no bare CR, LF or other control characters). For
//! every rejected request, the 400 that `error_response_from_raw` builds must parse and carry
//! the same Call-ID and exactly one To tag. Nothing may panic.
//!
//! A case that exposes a parser bug carries `known_bug` in the manifest: its failures are
//! printed and tolerated, and the test fails once it passes so that the entry goes with the fix.
//! A mutation property test runs the valid messages through random damage.

#[path = "torture/semantics.rs"]
mod semantics;

use std::collections::BTreeMap;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::OnceLock;

use cc_sip::{Header, Message, ParseError, error_response_from_raw, parse_message};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Parse,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEnds {
    Crlf,
    Lf,
    Cr,
    /// CRLF line ends plus deliberate bare CRs inside a line.
    CrlfWithBareCr,
}

/// One manifest table.
#[derive(Debug)]
struct Entry {
    name: String,
    expect: Expect,
    /// Start of the `Debug` text of the expected `ParseError`.
    error: Option<String>,
    line_ends: LineEnds,
    known_bug: Option<String>,
}

fn corpus_dir() -> PathBuf {
    // The directory cargo names when the test runs: the build directory is shared between
    // checkouts, so this binary may have been compiled in another one.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("tests/torture")
}

/// Reads the manifest: `[name]` tables of `key = "basic string"` lines, `#` comments.
fn manifest() -> Vec<Entry> {
    let text = fs::read_to_string(corpus_dir().join("EXPECTED.toml")).expect("EXPECTED.toml");
    let mut tables: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            tables.push((name.trim().to_owned(), BTreeMap::new()));
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("EXPECTED.toml:{}: expected key = \"value\"", n + 1));
        let (_, fields) = tables
            .last_mut()
            .unwrap_or_else(|| panic!("EXPECTED.toml:{}: key outside a table", n + 1));
        let value = basic_string(value.trim())
            .unwrap_or_else(|| panic!("EXPECTED.toml:{}: value is not a basic string", n + 1));
        assert!(
            fields.insert(key.trim().to_owned(), value).is_none(),
            "EXPECTED.toml:{}: duplicate key",
            n + 1
        );
    }
    tables.into_iter().map(|(name, f)| entry(name, f)).collect()
}

/// A TOML basic string (`"..."` with `\"` and `\\` escapes), optionally followed by a comment.
fn basic_string(s: &str) -> Option<String> {
    let mut chars = s.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => break,
            '\\' => match chars.next()? {
                c @ ('"' | '\\') => out.push(c),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    let rest = chars.as_str().trim();
    (rest.is_empty() || rest.starts_with('#')).then_some(out)
}

fn entry(name: String, mut f: BTreeMap<String, String>) -> Entry {
    let mut take = |k: &str| f.remove(k);
    let expect = match take("expect").as_deref() {
        Some("parse") => Expect::Parse,
        Some("reject") => Expect::Reject,
        other => panic!("[{name}]: expect must be \"parse\" or \"reject\", not {other:?}"),
    };
    let reason = take("reason").unwrap_or_default();
    assert!(!reason.is_empty(), "[{name}]: every case needs a reason");
    let _rfc = take("rfc");
    let error = take("error");
    assert!(
        error.is_none() || expect == Expect::Reject,
        "[{name}]: error is only for rejected cases"
    );
    let line_ends = match take("line_ends").as_deref() {
        None | Some("crlf") => LineEnds::Crlf,
        Some("lf") => LineEnds::Lf,
        Some("cr") => LineEnds::Cr,
        Some("crlf+bare-cr") => LineEnds::CrlfWithBareCr,
        Some(other) => panic!("[{name}]: unknown line_ends {other:?}"),
    };
    let known_bug = take("known_bug");
    assert!(f.is_empty(), "[{name}]: unknown keys {:?}", f.keys());
    Entry {
        name,
        expect,
        error,
        line_ends,
        known_bug,
    }
}

fn read_case(name: &str) -> Vec<u8> {
    fs::read(corpus_dir().join(format!("{name}.sip"))).unwrap_or_else(|e| panic!("{name}.sip: {e}"))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Everything that is wrong with this case; empty when it behaves as the manifest says.
fn check_case(entry: &Entry, bytes: &[u8]) -> Vec<String> {
    let mut p = Vec::new();
    check_line_ends(entry.line_ends, bytes, &mut p);
    let Ok(parsed) = catch_unwind(|| parse_message(bytes)) else {
        p.push("parse_message panicked".into());
        return p;
    };
    match (entry.expect, parsed) {
        (Expect::Parse, Ok(m)) => {
            check_round_trip(&m, &mut p);
            semantics::check(&entry.name, &m, &mut p);
        }
        (Expect::Parse, Err(e)) => p.push(format!("valid message rejected: {e:?}")),
        (Expect::Reject, Ok(m)) => {
            let printed = m.to_bytes();
            let first = printed.split(|b| *b == b'\n').next().unwrap_or_default();
            p.push(format!(
                "invalid message accepted as {:?}",
                lossy(first).trim_end()
            ));
        }
        (Expect::Reject, Err(e)) => {
            let debug = format!("{e:?}");
            if let Some(want) = &entry.error
                && !debug.starts_with(want.as_str())
            {
                p.push(format!("rejected with {debug}, expected {want}..."));
            }
            check_error_response(bytes, &e, &mut p);
        }
    }
    p
}

/// The header block of a corpus file must use the line ends its entry declares.
fn check_line_ends(want: LineEnds, bytes: &[u8], p: &mut Vec<String>) {
    let head = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes, |i| &bytes[..i]);
    let lf = head.iter().filter(|b| **b == b'\n').count();
    let cr = head.iter().filter(|b| **b == b'\r').count();
    let crlf = head.windows(2).filter(|w| *w == b"\r\n").count();
    let ok = match want {
        LineEnds::Crlf => lf == crlf && cr == crlf,
        LineEnds::Lf => cr == 0 && lf > 0,
        LineEnds::Cr => lf == 0 && cr > 0,
        LineEnds::CrlfWithBareCr => lf == crlf && cr > crlf,
    };
    if !ok {
        p.push(format!(
            "corpus file does not use {want:?} line ends (CR {cr}, LF {lf}, CRLF {crlf})"
        ));
    }
}

/// The message without its Content-Length headers: the printer drops them and writes its own,
/// last and equal to the body length, so only the rest can be compared.
fn without_content_length(m: &Message) -> Message {
    let mut m = m.clone();
    let headers = match &mut m {
        Message::Request(r) => &mut r.headers,
        Message::Response(r) => &mut r.headers,
    };
    headers.0.retain(|h| !matches!(h, Header::ContentLength(_)));
    m
}

fn body(m: &Message) -> &[u8] {
    match m {
        Message::Request(r) => &r.body,
        Message::Response(r) => &r.body,
    }
}

fn check_round_trip(m: &Message, p: &mut Vec<String>) {
    let printed = m.to_bytes();
    check_clean_head(&printed, p);
    let again = match parse_message(&printed) {
        Ok(again) => again,
        Err(e) => {
            p.push(format!(
                "its serialization does not parse ({e}):\n{}",
                lossy(&printed)
            ));
            return;
        }
    };
    if let Some(d) = first_difference(&without_content_length(m), &without_content_length(&again)) {
        p.push(format!("round trip changed the message: {d}"));
    }
    let lengths: Vec<usize> = again
        .headers()
        .iter()
        .filter_map(|h| match h {
            Header::ContentLength(n) => Some(*n),
            _ => None,
        })
        .collect();
    if lengths != [body(m).len()] {
        p.push(format!(
            "printed Content-Length {lengths:?}, body has {} bytes",
            body(m).len()
        ));
    }
    if parse_message(&again.to_bytes()).as_ref() != Ok(&again) {
        p.push("printing a reparsed message is not a fixed point".into());
    }
}

/// What we print must be valid SIP: no control characters in the header block but the CRLF
/// line ends (and HTAB).
fn check_clean_head(printed: &[u8], p: &mut Vec<String>) {
    let end = printed
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(printed.len());
    for line in printed[..end].split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A control byte is allowed only as a quoted-pair (after a backslash).
        let control = line.iter().enumerate().find(|(i, b)| {
            ((**b < 0x20 && **b != b'\t') || **b == 0x7f) && (*i == 0 || line[i - 1] != b'\\')
        });
        if let Some((_, b)) = control {
            p.push(format!(
                "printed header line contains control byte {b:#04x}: {:?}",
                lossy(line)
            ));
        }
    }
}

fn first_difference(a: &Message, b: &Message) -> Option<String> {
    if a == b {
        return None;
    }
    let (ha, hb) = (&a.headers().0, &b.headers().0);
    for (i, (x, y)) in ha.iter().zip(hb.iter()).enumerate() {
        if x != y {
            return Some(format!("header {i}: {x:?} became {y:?}"));
        }
    }
    if ha.len() != hb.len() {
        return Some(format!("{} headers became {}", ha.len(), hb.len()));
    }
    match (a, b) {
        (Message::Request(x), Message::Request(y)) if x.uri != y.uri => {
            Some(format!("Request-URI {:?} became {:?}", x.uri, y.uri))
        }
        (Message::Request(x), Message::Request(y)) if x.method != y.method => {
            Some(format!("method {:?} became {:?}", x.method, y.method))
        }
        _ if body(a) != body(b) => Some("body changed".into()),
        _ => Some(format!("{a:?} became {b:?}")),
    }
}

/// The Call-ID as written in the raw header block (first `Call-ID` or `i` line).
fn raw_call_id(bytes: &[u8]) -> Option<String> {
    let text = lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("Call-ID") || name.eq_ignore_ascii_case("i"))
            .then(|| value.trim().to_owned())
    })
}

fn check_error_response(bytes: &[u8], e: &ParseError, p: &mut Vec<String>) {
    let detail = e.to_string();
    let built = match catch_unwind(|| error_response_from_raw(bytes, 400, &detail)) {
        Err(_) => {
            p.push("error_response_from_raw panicked".into());
            return;
        }
        Ok(None) => return,
        Ok(Some(built)) => built,
    };
    let resp = match parse_message(&built) {
        Ok(Message::Response(r)) => r,
        Ok(Message::Request(_)) => {
            p.push("error_response_from_raw built a request".into());
            return;
        }
        Err(e) => {
            p.push(format!(
                "the 400 from error_response_from_raw does not parse ({e}):\n{}",
                lossy(&built)
            ));
            return;
        }
    };
    if resp.status != 400 {
        p.push(format!("error response has status {}", resp.status));
    }
    let call_id = resp.headers.call_id().map(str::to_owned);
    if call_id != raw_call_id(bytes) {
        p.push(format!(
            "error response Call-ID {call_id:?}, request had {:?}",
            raw_call_id(bytes)
        ));
    }
    let tags = resp.headers.to().map_or(0, |to| {
        to.params
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case("tag"))
            .count()
    });
    if tags != 1 {
        p.push(format!(
            "error response To has {tags} tags:\n{}",
            lossy(&built)
        ));
    }
}

#[test]
fn corpus_and_manifest_name_the_same_files() {
    let mut files: Vec<String> = fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".sip").map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = manifest().into_iter().map(|e| e.name).collect();
    let count = listed.len();
    listed.sort();
    listed.dedup();
    assert_eq!(
        listed.len(),
        count,
        "a case is listed twice in EXPECTED.toml"
    );
    assert_eq!(
        files, listed,
        "every .sip file needs exactly one manifest entry"
    );
}

#[test]
fn torture_corpus_behaves_as_the_manifest_says() {
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    let mut known = 0;
    for entry in manifest() {
        let problems = check_case(&entry, &read_case(&entry.name));
        match (&entry.known_bug, problems.is_empty()) {
            (None, true) => {}
            (None, false) => {
                unexpected.push(format!("{}:\n  {}", entry.name, problems.join("\n  ")))
            }
            (Some(_), true) => fixed.push(entry.name),
            (Some(bug), false) => {
                known += 1;
                eprintln!(
                    "known bug in {}: {bug}\n  {}",
                    entry.name,
                    problems.join("\n  ")
                );
            }
        }
    }
    eprintln!("{known} cases fail with a known bug");
    let mut report = String::new();
    if !unexpected.is_empty() {
        report += &format!(
            "{} cases do not behave as EXPECTED.toml says:\n{}\n",
            unexpected.len(),
            unexpected.join("\n")
        );
    }
    if !fixed.is_empty() {
        report += &format!("these cases now pass: remove their known_bug: {fixed:?}\n");
    }
    assert!(report.is_empty(), "{report}");
}

/// The valid corpus (cases expected to parse and without a known bug): mutation seeds.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        manifest()
            .into_iter()
            .filter(|e| e.expect == Expect::Parse && e.known_bug.is_none())
            .map(|e| read_case(&e.name))
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Splice(prop::sample::Index, &'static str),
    Delete(prop::sample::Index),
    Truncate(prop::sample::Index),
}

/// Bytes that matter to a SIP parser, and sometimes any byte.
fn nasty_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"\r\n\0\"<>\\,;:= \t%@[]?&".to_vec()),
        Just(0xff),
        any::<u8>(),
    ]
}

/// Fragments that are valid somewhere in SIP, to build odd but possibly valid messages.
#[rustfmt::skip]
const FRAGMENTS: &[&str] = &[
    "\r\n ", "\r\n\t", ";", ";x", ";x=y", ";x=\"a b\"", ",", " , ", "\"", "\\\"", "<", ">",
    "<sip:a@b>", "sip:", "tel:+1", "%", "%2", "%41", "%00", "%+4", "[::1]", "[", "]", ":", ":5060",
    "@", "?", "?h=v", "&", " ", "\t", "=", "tag=", "branch=", "SIP/2.0", "\r\n\r\n", "\u{a0}",
    "é", "\0",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, 1 << bit)),
        (any::<prop::sample::Index>(), nasty_byte()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<prop::sample::Index>(), nasty_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (
            any::<prop::sample::Index>(),
            prop::sample::select(FRAGMENTS)
        )
            .prop_map(|(i, f)| Mutation::Splice(i, f)),
        any::<prop::sample::Index>().prop_map(Mutation::Delete),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, mask) => {
                let at = i.index(bytes.len());
                bytes[at] ^= mask;
            }
            Mutation::Set(i, b) => {
                let at = i.index(bytes.len());
                bytes[at] = *b;
            }
            Mutation::Insert(i, b) => {
                let at = i.index(bytes.len() + 1);
                bytes.insert(at, *b);
            }
            Mutation::Splice(i, f) => {
                let at = i.index(bytes.len() + 1);
                bytes.splice(at..at, f.bytes());
            }
            Mutation::Delete(i) => {
                bytes.remove(i.index(bytes.len()));
            }
            Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        }
    }
    bytes
}

/// Deterministic by default (a fixed seed); `PROPTEST_RNG_SEED` and `PROPTEST_CASES` override.
fn config() -> Config {
    let mut c = Config::default();
    if c.rng_seed == RngSeed::Random {
        c.rng_seed = RngSeed::Fixed(4475);
    }
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 2000;
    }
    c
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn damaged_messages_never_panic_and_what_parses_round_trips(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let bytes = mutate(seeds[seed.index(seeds.len())].clone(), &mutations);
        let parsed = catch_unwind(AssertUnwindSafe(|| parse_message(&bytes)));
        prop_assert!(parsed.is_ok(), "parse_message panicked on {:?}", lossy(&bytes));
        let input = lossy(&bytes);
        match parsed.unwrap() {
            Ok(m) => {
                let printed = m.to_bytes();
                let again = parse_message(&printed);
                prop_assert!(
                    again.is_ok(),
                    "printed form does not parse: {:?}\ninput {input:?}\nprinted {:?}",
                    again.err(),
                    lossy(&printed)
                );
                prop_assert_eq!(
                    without_content_length(&again.unwrap()),
                    without_content_length(&m),
                    "input {:?}\nprinted {:?}",
                    input,
                    lossy(&printed)
                );
            }
            Err(e) => {
                let detail = e.to_string();
                let build = || error_response_from_raw(&bytes, 400, &detail);
                let built = catch_unwind(AssertUnwindSafe(build));
                prop_assert!(built.is_ok(), "error_response_from_raw panicked on {input:?}");
                if let Some(resp) = built.unwrap() {
                    let status = match parse_message(&resp) {
                        Ok(Message::Response(r)) => Some(r.status),
                        _ => None,
                    };
                    let built = lossy(&resp);
                    prop_assert_eq!(status, Some(400), "input {:?}\nbuilt {:?}", input, built);
                }
            }
        }
    }
}
