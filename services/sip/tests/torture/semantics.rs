//! What the valid torture messages must mean once parsed: the values a UAS or registrar reads
//! from them. Checked after the round trip, by case name; a case without an arm here is only
//! required to parse and round-trip.

use std::net::{IpAddr, Ipv6Addr};

use cc_sip::{Contact, Header, Host, Message, Method, NameAddr, Transport, Uri};

/// Records a problem when two values differ.
macro_rules! same {
    ($p:expr, $got:expr, $want:expr) => {
        // `match` keeps temporaries in `$got` alive for the comparison.
        match (&$got, &$want) {
            (got, want) => {
                if got != want {
                    $p.push(format!(
                        "{} is {:?}, expected {:?}",
                        stringify!($got),
                        got,
                        want
                    ));
                }
            }
        }
    };
}

fn method(m: &Message) -> Option<&Method> {
    match m {
        Message::Request(r) => Some(&r.method),
        Message::Response(_) => None,
    }
}

fn ruri(m: &Message) -> Option<&Uri> {
    match m {
        Message::Request(r) => Some(&r.uri),
        Message::Response(_) => None,
    }
}

fn body(m: &Message) -> &[u8] {
    match m {
        Message::Request(r) => &r.body,
        Message::Response(r) => &r.body,
    }
}

fn status(m: &Message) -> Option<(u16, &str)> {
    match m {
        Message::Response(r) => Some((r.status, r.reason.as_str())),
        Message::Request(_) => None,
    }
}

fn user(a: Option<&NameAddr>) -> Option<&str> {
    a?.uri.user()
}

fn display(a: Option<&NameAddr>) -> Option<&str> {
    a?.display.as_deref()
}

fn contacts(m: &Message) -> Vec<&NameAddr> {
    m.headers()
        .contacts()
        .filter_map(|c| match c {
            Contact::Addr(a) => Some(a),
            Contact::Wildcard => None,
        })
        .collect()
}

fn host_port(u: Option<&Uri>) -> Option<(String, Option<u16>)> {
    let s = u?.as_sip()?;
    Some((s.host.to_string(), s.port))
}

fn uri_param<'a>(u: Option<&'a Uri>, name: &str) -> Option<Option<&'a str>> {
    match u? {
        Uri::Sip(s) => s.params.get(name),
        Uri::Tel(t) => t.params.get(name),
        Uri::Other(_) => None,
    }
}

fn uri_headers(u: Option<&Uri>) -> Vec<(String, String)> {
    u.and_then(Uri::as_sip)
        .map(|s| {
            s.headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn others<'a>(m: &'a Message, name: &str) -> Vec<&'a str> {
    m.headers()
        .iter()
        .filter_map(|h| match h {
            Header::Other { name: n, value } if n.eq_ignore_ascii_case(name) => {
                Some(value.as_str())
            }
            _ => None,
        })
        .collect()
}

fn vias(m: &Message) -> Vec<(Transport, String, Option<u16>, Option<&str>)> {
    m.headers()
        .vias()
        .map(|v| (v.transport.clone(), v.host.to_string(), v.port, v.branch()))
        .collect()
}

fn ip6(s: &str) -> Host {
    Host::Ip(IpAddr::V6(
        s.parse::<Ipv6Addr>().expect("test IPv6 literal"),
    ))
}

const SDP_END: &[u8] = b"a=rtpmap:31 LPC\r\n";
const INTMETH: &str = "!interesting-Method0123456789_*+`.%indeed'~";

pub fn check(name: &str, m: &Message, p: &mut Vec<String>) {
    let h = m.headers();
    match name {
        "wsinv" => {
            same!(p, method(m), Some(&Method::Invite));
            same!(p, uri_param(ruri(m), "unknownparam"), Some(None));
            same!(p, h.to().and_then(NameAddr::tag), Some("1918181833n"));
            same!(p, display(h.from()), Some("J Rosenberg \\\""));
            same!(p, h.from().and_then(NameAddr::tag), Some("98asjd8"));
            same!(p, h.max_forwards(), Some(68));
            same!(
                p,
                h.cseq().map(|c| (c.seq, &c.method)),
                Some((9, &Method::Invite))
            );
            same!(
                p,
                vias(m),
                vec![
                    (Transport::Udp, "192.0.2.2".into(), None, Some("390skdjuw")),
                    (
                        Transport::Tcp,
                        "spindle.example.com".into(),
                        None,
                        Some("z9hG4bK9ikj8")
                    ),
                    (
                        Transport::Udp,
                        "192.168.255.111".into(),
                        None,
                        Some("z9hG4bK30239")
                    ),
                ]
            );
            same!(
                p,
                others(m, "NewFangledHeader"),
                vec!["newfangled value continued newfangled value"]
            );
            same!(p, others(m, "s"), vec![""]);
            same!(
                p,
                others(m, "UnknownHeaderWithUnusualValue"),
                vec![";;,,;;,;"]
            );
            let route = h.routes().next();
            same!(p, uri_param(route.map(|r| &r.uri), "lr"), Some(None));
            same!(
                p,
                uri_param(route.map(|r| &r.uri), "unknownwith"),
                Some(Some("value"))
            );
            let c = contacts(m);
            same!(p, display(c.first().copied()), Some("Quoted string \"\""));
            let cp = c.first().map(|c| &c.params);
            same!(
                p,
                cp.and_then(|ps| ps.get("newparam")),
                Some(Some("newvalue"))
            );
            same!(p, cp.and_then(|ps| ps.get("secondparam")), Some(None));
            same!(p, cp.and_then(|ps| ps.get("q")), Some(Some("0.33")));
            same!(p, body(m).ends_with(SDP_END), true);
        }
        "intmeth" => {
            same!(p, method(m), Some(&Method::Other(INTMETH.into())));
            let sip = ruri(m).and_then(Uri::as_sip);
            same!(
                p,
                sip.and_then(|s| s.user.as_deref()),
                Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
            );
            same!(
                p,
                sip.and_then(|s| s.password.as_deref()),
                Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
            );
            same!(p, display(h.to()), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
            same!(p, display(h.from()), Some("token1~` token2'+_ token3*%!.-"));
            same!(
                p,
                h.from().and_then(|f| f.params.value("fromParam''~+*_!.-%")),
                Some("\"работающий\"")
            );
            same!(
                p,
                h.from().and_then(NameAddr::tag),
                Some("_token~1'+`*%!-.")
            );
            same!(
                p,
                h.call_id(),
                Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
            );
            same!(
                p,
                h.cseq().map(|c| &c.method),
                Some(&Method::Other(INTMETH.into()))
            );
            same!(
                p,
                others(m, "extensionHeader-!.%*+_`'~"),
                vec!["\u{feff}大停電"]
            );
        }
        "esc01" => {
            let sip = ruri(m).and_then(Uri::as_sip);
            same!(
                p,
                sip.and_then(|s| s.user.as_deref()),
                Some("sips:user@example.com")
            );
            same!(p, user(h.to()), Some("user"));
            same!(p, user(h.from()), Some("I have spaces"));
            let c = contacts(m);
            same!(p, user(c.first().copied()), Some("caller"));
            same!(p, uri_param(c.first().map(|c| &c.uri), "lr"), Some(None));
            same!(
                p,
                uri_param(c.first().map(|c| &c.uri), "name"),
                Some(Some("value%41"))
            );
            same!(
                p,
                h.content_type().map(|t| t.is("application", "sdp")),
                Some(true)
            );
        }
        "escnull" => {
            same!(p, user(h.to()), Some("null-\0-null"));
            same!(
                p,
                contacts(m).iter().map(|c| c.uri.user()).collect::<Vec<_>>(),
                vec![Some("\0"), Some("\0\0")]
            );
        }
        "esc02" => {
            same!(p, method(m), Some(&Method::Other("RE%47IST%45R".into())));
            same!(p, display(h.to()), Some("%Z%45"));
            same!(p, contacts(m).len(), 2);
            same!(
                p,
                others(m, "C%6Fntact"),
                vec!["<sip:alias2@host2.example.com>"]
            );
        }
        "lwsdisp" => same!(p, display(h.from()), Some("caller")),
        "longreq" => {
            let long_display =
                format!("I have a user name of {}proportion", "extreme ".repeat(120));
            same!(p, display(h.to()), Some(long_display.as_str()));
            same!(p, user(h.to()).map(str::len), Some(168));
            same!(
                p,
                h.from().and_then(NameAddr::tag).map(str::len),
                Some(1050)
            );
            same!(p, h.call_id().map(str::len), Some(4958));
            same!(p, vias(m).len(), 81);
            same!(
                p,
                h.vias().last().and_then(|v| v.branch()).map(str::len),
                Some(607)
            );
            same!(
                p,
                others(m, "Unknown-LongHeader").first().map(|v| v.len()),
                Some(11399)
            );
        }
        "dblreq" => {
            same!(p, method(m), Some(&Method::Register));
            same!(
                p,
                h.call_id(),
                Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412")
            );
            same!(p, body(m), b"");
        }
        "semiuri" => {
            let sip = ruri(m).and_then(Uri::as_sip);
            same!(
                p,
                sip.and_then(|s| s.user.as_deref()),
                Some("user;par=u@example.net")
            );
            same!(p, host_port(ruri(m)), Some(("example.com".into(), None)));
            same!(p, sip.map(|s| s.params.is_empty()), Some(true));
        }
        "transports" => same!(
            p,
            h.vias().map(|v| v.transport.clone()).collect::<Vec<_>>(),
            vec![
                Transport::Udp,
                Transport::Sctp,
                Transport::Tls,
                Transport::Other("UNKNOWN".into()),
                Transport::Tcp,
            ]
        ),
        "mpart01" => {
            same!(p, body(m).len(), 247);
            same!(p, body(m).contains(&0), true);
            same!(
                p,
                h.content_type().and_then(|t| t.params.value("boundary")),
                Some("7a9cbec02ceef655")
            );
        }
        "unreason" => same!(
            p,
            status(m),
            Some((200, "= 2**3 * 5**2 но сто девяносто девять - простое"))
        ),
        "noreason" => same!(p, status(m), Some((100, ""))),
        "baddate" => same!(p, others(m, "Date"), vec!["Fri, 01 Jan 2010 16:00:00 EST"]),
        "regbadct" => {
            let c = contacts(m);
            same!(
                p,
                uri_headers(c.first().map(|c| &c.uri)),
                vec![("Route".to_owned(), "<sip:sip.example.com>".to_owned())]
            );
        }
        "badaspec" => {
            same!(p, display(h.to()), Some("Watson, Thomas"));
            same!(p, user(h.to()), Some("t.watson"));
        }
        "baddn" => {
            same!(p, display(h.from()), Some("Bell, Alexander"));
            same!(p, display(h.to()), Some("Watson, Thomas"));
            let printed = String::from_utf8_lossy(&m.to_bytes()).into_owned();
            same!(p, printed.contains("To: \"Watson, Thomas\" <sip:"), true);
        }
        "badbranch" => same!(p, h.top_via().and_then(|v| v.branch()), Some("z9hG4bK")),
        "bext01" => {
            same!(
                p,
                h.require().collect::<Vec<_>>(),
                vec!["nothingSupportsThis", "nothingSupportsThisEither"]
            );
            same!(p, others(m, "Proxy-Require").len(), 1);
        }
        "invut" => {
            same!(
                p,
                h.content_type()
                    .map(|t| t.is("application", "unknownformat")),
                Some(true)
            );
            same!(
                p,
                body(m),
                b"<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n"
            );
        }
        "regaut01" => {
            let a = h.authorization();
            same!(
                p,
                a.map(|a| a.scheme.as_str()),
                Some("NoOneKnowsThisScheme")
            );
            same!(p, a.and_then(|a| a.param("opaque-data")), Some("here"));
        }
        "bcast" => {
            same!(p, status(m).map(|s| s.0), Some(200));
            same!(
                p,
                vias(m).get(1).map(|v| v.1.as_str()),
                Some("255.255.255.255")
            );
        }
        "zeromf" => same!(p, h.max_forwards(), Some(0)),
        "cparam01" | "cparam02" => {
            let c = contacts(m);
            let c = c.first();
            let in_uri = name == "cparam02";
            same!(
                p,
                c.map(|c| c.params.contains("unknownparam")),
                Some(!in_uri)
            );
            same!(
                p,
                uri_param(c.map(|c| &c.uri), "unknownparam").is_some(),
                in_uri
            );
        }
        "regescrt" => same!(
            p,
            uri_headers(contacts(m).first().map(|c| &c.uri)),
            vec![("Route".to_owned(), "<sip:sip.example.com>".to_owned())]
        ),
        "sdp01" => same!(p, others(m, "Accept"), vec!["text/nobodyKnowsThis"]),
        "inv2543" => {
            same!(p, h.top_via().map(|v| v.branch()), Some(None));
            same!(p, h.from().map(NameAddr::tag), Some(None));
            same!(p, h.max_forwards(), None);
            same!(
                p,
                h.to().and_then(|t| t.params.value("user")),
                Some("phone")
            );
            same!(p, uri_param(h.to().map(|t| &t.uri), "user"), None);
            same!(
                p,
                uri_param(h.from().map(|f| &f.uri), "user"),
                Some(Some("phone"))
            );
            same!(p, h.record_routes().count(), 1);
        }
        "compact-forms" => {
            same!(
                p,
                h.top_via().and_then(|v| v.branch()),
                Some("z9hG4bKcompact1")
            );
            same!(p, display(h.from()), Some("Caller"));
            same!(p, h.call_id(), Some("compact-forms.8812@192.0.2.7"));
            same!(p, contacts(m).len(), 1);
            let supported = h.iter().find_map(|x| match x {
                Header::Supported(s) => Some(s.iter().map(|t| t.as_str()).collect::<Vec<_>>()),
                _ => None,
            });
            same!(p, supported, Some(vec!["replaces", "timer"]));
            same!(
                p,
                h.iter().filter(|x| matches!(x, Header::ReferTo(_))).count(),
                1
            );
            same!(
                p,
                h.content_type().map(|t| t.is("text", "plain")),
                Some(true)
            );
            same!(p, others(m, "s"), vec!["compact subject"]);
            same!(p, others(m, "o"), vec!["presence"]);
            same!(p, others(m, "u"), vec!["talk, hold"]);
            same!(p, others(m, "e"), vec!["identity"]);
            same!(p, body(m), b"hi\r\n");
        }
        "mixed-case-names" => {
            same!(
                p,
                h.top_via().and_then(|v| v.branch()),
                Some("z9hG4bKcase1")
            );
            same!(p, h.from().and_then(NameAddr::tag), Some("c2"));
            same!(p, h.call_id(), Some("mixed-case-names.1@192.0.2.7"));
            same!(p, h.cseq().map(|c| c.seq), Some(2));
            same!(p, h.max_forwards(), Some(70));
            same!(p, contacts(m).len(), 1);
            same!(p, others(m, "X-Custom-Header"), vec!["Value"]);
        }
        "folding" => {
            same!(
                p,
                h.top_via().and_then(|v| v.branch()),
                Some("z9hG4bKfold1")
            );
            same!(p, display(h.from()), Some("Folded Name"));
            same!(p, h.from().and_then(NameAddr::tag), Some("f1"));
            same!(
                p,
                h.cseq().map(|c| (c.seq, &c.method)),
                Some((20, &Method::Register))
            );
            same!(p, contacts(m).len(), 2);
            same!(p, others(m, "Subject"), vec!["first second third"]);
            same!(p, h.expires(), Some(3600));
        }
        "via-120" => {
            let v = vias(m);
            same!(p, v.len(), 120);
            same!(p, v.first().map(|v| v.1.as_str()), Some("hop0.example.net"));
            same!(
                p,
                v.last().map(|v| (v.0.clone(), v.1.as_str())),
                Some((Transport::Tcp, "hop119.example.org"))
            );
        }
        "unknown-schemes-other-headers" => {
            same!(
                p,
                others(m, "Call-Info"),
                vec![concat!(
                    "<http://www.example.com/alice/photo.jpg> ;purpose=icon, ",
                    "<https://www.example.com/alice/> ;purpose=info"
                )]
            );
            same!(
                p,
                others(m, "Alert-Info"),
                vec!["<urn:alert:tone:internal>"]
            );
            same!(
                p,
                others(m, "Reply-To"),
                vec!["Bob <mailto:bob@example.com>"]
            );
            same!(p, others(m, "P-Asserted-Identity").len(), 1);
            same!(p, others(m, "History-Info").len(), 1);
            same!(p, others(m, "Error-Info").len(), 1);
        }
        "unknown-headers" => {
            same!(p, others(m, "X-Empty"), vec![""]);
            same!(p, others(m, "X-Blank"), vec![""]);
            same!(p, others(m, "X-Tight"), vec!["value:with:colons"]);
            same!(p, others(m, "X-Odd.Name!%*_+`'~"), vec!["odd name"]);
            same!(p, others(m, "X-Quoted"), vec!["\"a, b\" <x> ;y=z"]);
            same!(p, others(m, "X-Repeated"), vec!["one", "two"]);
            same!(p, others(m, "X-Commas"), vec![",,,"]);
        }
        "contact-multi" => {
            let c = contacts(m);
            same!(
                p,
                c.iter().map(|c| c.display.as_deref()).collect::<Vec<_>>(),
                vec![
                    Some("Doe, John"),
                    None,
                    None,
                    Some("Desk, \"main\""),
                    None,
                    None
                ]
            );
            let expires: Vec<_> = h.contacts().map(Contact::expires).collect();
            same!(p, expires, vec![Some(60), None, Some(30), None, None, None]);
            same!(
                p,
                host_port(c.get(4).map(|c| &c.uri)),
                Some(("[2001:db8::15]".into(), Some(5062)))
            );
        }
        "quoted-escapes" => {
            same!(
                p,
                display(h.from()),
                Some("quote \" and backslash \\ and q")
            );
            same!(p, display(h.to()), Some(""));
            same!(
                p,
                h.to().and_then(|t| t.params.value("p")),
                Some("\"x\\\"y\"")
            );
            same!(
                p,
                h.top_via().and_then(|v| v.params.value("x")),
                Some("\"a;b,c\"")
            );
            let reason = h.iter().find_map(|x| match x {
                Header::Reason(r) => Some(r),
                _ => None,
            });
            same!(p, reason.and_then(|r| r.cause()), Some(200));
            same!(
                p,
                reason.and_then(|r| r.text()),
                Some("Call completed \"elsewhere\"".to_owned())
            );
            same!(
                p,
                h.content_type().and_then(|t| t.params.value("charset")),
                Some("\"utf-8\"")
            );
            same!(p, body(m), "zażółć \"quoted\"".as_bytes());
        }
        "ipv6" => {
            let sip = ruri(m).and_then(Uri::as_sip);
            same!(
                p,
                sip.map(|s| (&s.host, s.port)),
                Some((&ip6("2001:db8::10"), Some(5070)))
            );
            let top = h.top_via();
            same!(
                p,
                top.map(|v| (&v.host, v.port)),
                Some((&ip6("2001:db8::9:1"), Some(5060)))
            );
            same!(p, top.and_then(|v| v.received()), Some("[2001:db8::9:255]"));
            same!(p, top.and_then(|v| v.rport()), Some(Some(5060)));
            same!(
                p,
                h.vias().nth(1).map(|v| &v.host),
                Some(&ip6("::ffff:192.0.2.17"))
            );
            let to = h.to().and_then(|t| t.uri.as_sip());
            same!(p, to.map(|s| &s.host), Some(&ip6("2001:db8::10")));
            same!(p, contacts(m).len(), 2);
            let route = h.routes().next().and_then(|r| r.uri.as_sip());
            same!(
                p,
                route.map(|s| (&s.host, s.port)),
                Some((&ip6("2001:db8::10:5070"), None))
            );
        }
        "no-content-length-body" => {
            same!(p, h.content_length(), None);
            same!(p, body(m).len(), 115);
            same!(p, body(m).starts_with(b"v=0\r\n"), true);
        }
        "maxfwd-255" => same!(p, h.max_forwards(), Some(255)),
        "body-nul" => same!(p, body(m), b"\0\0head\0\r\n\r\n\0\xff\xfe\0tail\0"),
        "tel-uri" => {
            let Some(Uri::Tel(t)) = ruri(m) else {
                p.push(format!("Request-URI is not tel: {:?}", ruri(m)));
                return;
            };
            same!(p, t.number, "+1-201-555-0123");
            same!(p, t.params.value("phone-context"), Some("example.com"));
            same!(p, user(h.from()), Some("+48-600-100-200"));
            same!(p, user(h.to()), Some("7042"));
            same!(p, display(h.to()), Some("Queue"));
            same!(
                p,
                uri_param(h.to().map(|t| &t.uri), "phone-context"),
                Some(Some("cc.example.com"))
            );
        }
        "leading-crlf" | "bare-lf" => {
            same!(p, method(m), Some(&Method::Options));
            same!(p, h.call_id().map(|c| c.starts_with(name)), Some(true));
            same!(p, h.cseq().map(|c| c.seq), Some(1));
        }
        "via-no-branch" => same!(
            p,
            h.top_via().map(|v| (v.port, v.branch())),
            Some((Some(5060), None))
        ),
        "via-sentby-colon-lws" => same!(
            p,
            h.top_via().map(|v| (v.port, v.branch())),
            Some((Some(5060), Some("z9hG4bKcolon")))
        ),
        "unicode-ws-value" => same!(p, others(m, "Subject"), vec!["\u{3000}café\u{a0}"]),
        "method-case" => {
            same!(p, method(m), Some(&Method::Other("invite".into())));
            same!(
                p,
                h.cseq().map(|c| &c.method),
                Some(&Method::Other("invite".into()))
            );
        }
        "auth-digest-ws" => {
            let a = h.authorization();
            same!(p, a.map(|a| a.is_digest()), Some(true));
            for (k, v) in [
                ("username", "201"),
                ("realm", "cc.example.com"),
                ("nonce", "a,b\"c"),
                ("uri", "sip:cc.example.com"),
                ("response", "7a8b3f0c5d1e2f3a4b5c6d7e8f901234"),
                ("algorithm", "MD5"),
                ("qop", "auth"),
                ("nc", "00000001"),
                ("cnonce", "0a4f113b"),
            ] {
                same!(p, (k, a.and_then(|a| a.param(k))), (k, Some(v)));
            }
        }
        "contact-star" => {
            same!(
                p,
                h.contacts().collect::<Vec<_>>(),
                vec![&Contact::Wildcard]
            );
            same!(p, h.expires(), Some(0));
        }
        _ => {}
    }
}
