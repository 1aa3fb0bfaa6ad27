//! Voice menus end to end through a real `ccd all`: a SIPp caller hears a scenario's menu as
//! early media and presses a key by RFC 4733 (SIPp's `dtmf_2833_*` pcaps), or none, and
//! reaches what the key leads to: the sales queue (an agent's phone answers), the
//! operator's phone, an outside number through the trunk, or the menu's default once the
//! timeout has run out after the prompt (also after an invalid key and the menu again).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use cc_tests::ccd::{Ccd, Employee, NodeConfig};
use cc_tests::org::{self, describe, log_in_available, run};
use cc_tests::phones::{Behaviour, Phone};
use cc_tests::sip::Transport;
use cc_tests::tools::Sipp;

/// A number whose scenario starts at the menu.
const MENU: &str = "48225550001";
/// A number whose scenario plays the welcome prompt first, then the same menu.
const WELCOMED: &str = "48225550002";

/// The menu's timeout (after the prompt).
const TIMEOUT_SECONDS: u64 = 2;

/// The outside number key 3 transfers to.
const OUTSIDE: &str = "+48600999888";

/// Sales (Anna) behind key 1, Piotr behind key 2, an outside number through the trunk at
/// `trunk` behind key 3, Maria as the menu's default.
fn center(trunk: SocketAddr) -> NodeConfig {
    let mut config = NodeConfig::default();
    config.employees.push(Employee::new(
        "maria",
        "Maria Wisniewska",
        "203",
        "maria-secret",
        "user",
    ));
    let operations = format!(
        r#"
[[scenarios.operations]]
id = "menu"
menu = {{ prompt = "enter-extension", timeout_seconds = {TIMEOUT_SECONDS}, tries = 2, invalid_prompt = "invalid-choice" }}
keys = {{ "1" = "sales", "2" = "operator", "3" = "out" }}
default = "fallback"
[[scenarios.operations]]
id = "sales"
queue = {{ department = "sales" }}
[[scenarios.operations]]
id = "operator"
dial = {{ employee = "piotr" }}
no_answer = "bye"
[[scenarios.operations]]
id = "fallback"
dial = {{ employee = "maria" }}
no_answer = "bye"
[[scenarios.operations]]
id = "out"
transfer = {{ number = "{OUTSIDE}" }}
no_answer = "bye"
[[scenarios.operations]]
id = "bye"
hangup = {{ prompt = "goodbye" }}
"#
    );
    config.toml(&format!(
        r#"
[organization]
name = "Acme"
timezone = "Europe/Warsaw"

[[departments]]
id = "sales"
name = "Sales"
extension = "600"
strategy = "sequential"
members = ["anna"]
ring_seconds = 5

[[trunks]]
id = "pstn"
target = "{trunk}"

[[scenarios]]
id = "menu"
start = "menu"
{operations}
[[scenarios]]
id = "welcome"
start = "greet"
[[scenarios.operations]]
id = "greet"
play = "welcome"
next = "menu"
{operations}
[[numbers]]
number = "{MENU}"
scenario = "menu"

[[numbers]]
number = "{WELCOMED}"
scenario = "welcome"
"#
    ))
}

/// The registered phone of an employee of the test organisation, answering at once.
fn phone(node: &Ccd, extension: &str) -> Phone {
    org::phone(node, extension, Behaviour::Answer { ring_ms: 200 })
}

/// Anna (sales, logged in), Piotr and Maria, each with a registered phone, and the phone
/// of the outside number behind the trunk.
async fn staffed_with_outside() -> (Ccd, [Phone; 3], Phone) {
    let outside = Phone::unregistered("outside", Behaviour::Answer { ring_ms: 200 });
    let node = Ccd::start(center(outside.addr()));
    let phones = [
        phone(&node, "201"),
        phone(&node, "202"),
        phone(&node, "203"),
    ];
    log_in_available(&node, &["anna"]).await;
    (node, phones, outside)
}

async fn staffed() -> (Ccd, [Phone; 3]) {
    let (node, phones, _) = staffed_with_outside().await;
    (node, phones)
}

/// A caller of `number` who presses `key` (by RFC 4733) 1 s after the menu starts.
fn pressing(node: &Ccd, number: &str, key: char) -> Sipp {
    let pcap = format!("/usr/share/sip-tester/dtmf_2833_{key}.pcap");
    Sipp::new("caller_menu_key.xml", node.addr(), Transport::Udp)
        .service(number)
        .with_pcaps()
        .file("dtmf.pcap", Path::new(&pcap))
        .arg("-d")
        .arg("500")
        .timeout(Duration::from_secs(30))
}

/// How many INVITEs each of Anna, Piotr and Maria got.
fn rung(phones: &[Phone; 3]) -> [usize; 3] {
    phones.each_ref().map(|p| p.received("INVITE").len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_pressing_1_in_the_menu_reaches_the_sales_queue() {
    let (node, phones) = staffed().await;
    let call = run(pressing(&node, MENU, '1')).await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &phones.each_ref())
    );
    assert_eq!(
        rung(&phones),
        [1, 0, 0],
        "Anna, the sales agent, took it\n{}",
        describe(&call, &node, &phones.each_ref())
    );
    let log = node.log_text();
    assert!(log.contains("digits=1"), "the key came through\n{log}");
    assert!(log.contains("queued"), "{log}");
    // The menu was early media: the caller was answered by the agent, not before.
    let early = call.messages.find("SIP/2.0 183").expect("a 183 with SDP");
    let answered = call.messages.find("SIP/2.0 200").expect("a 200");
    assert!(early < answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_pressing_2_in_the_menu_reaches_the_operators_phone() {
    let (node, phones) = staffed().await;
    let call = run(pressing(&node, MENU, '2')).await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &phones.each_ref())
    );
    assert_eq!(
        rung(&phones),
        [0, 1, 0],
        "Piotr's phone rang, nobody else's\n{}",
        describe(&call, &node, &phones.each_ref())
    );
    assert!(node.log_text().contains("digits=2"), "{}", node.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_pressing_nothing_in_the_menu_takes_its_default_after_the_timeout() {
    let (node, phones) = staffed().await;
    let started = Instant::now();
    // caller.xml presses nothing: it waits for the answer.
    let call = run(Sipp::new("caller.xml", node.addr(), Transport::Udp)
        .service(WELCOMED)
        .with_pcaps()
        .arg("-d")
        .arg("500")
        .timeout(Duration::from_secs(30)))
    .await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &phones.each_ref())
    );
    assert_eq!(
        rung(&phones),
        [0, 0, 1],
        "Maria, the default, took it\n{}",
        describe(&call, &node, &phones.each_ref())
    );
    let log = node.log_text();
    assert!(log.contains("no key in time"), "{log}");
    // The welcome (2.7 s) played in full, then the menu's prompt (3.7 s), then the
    // timeout counted from the prompt's end: a timeout counted from the prompt's start
    // would have ended ~2 s sooner.
    let least = Duration::from_millis(2_700 + 3_600) + Duration::from_secs(TIMEOUT_SECONDS);
    assert!(
        started.elapsed() >= least,
        "the default came after {:?}, before the prompts and the timeout ({least:?})\n{}",
        started.elapsed(),
        describe(&call, &node, &phones.each_ref())
    );
    let greet = log.find("operation=greet").expect("the welcome operation");
    let menu = log.find("operation=menu").expect("the menu operation");
    let fallback = log
        .find("operation=fallback")
        .expect("the default operation");
    assert!(greet < menu && menu < fallback, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_pressing_an_invalid_key_hears_the_menu_again_then_takes_its_default() {
    let (node, phones) = staffed().await;
    let started = Instant::now();
    let call = run(pressing(&node, MENU, '9')).await;
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &phones.each_ref())
    );
    assert_eq!(
        rung(&phones),
        [0, 0, 1],
        "9 leads nowhere: after the menu again and no key, Maria, the default\n{}",
        describe(&call, &node, &phones.each_ref())
    );
    let log = node.log_text();
    assert!(log.contains("digits=9"), "{log}");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("scenario operation") && l.contains("operation=menu"))
            .count(),
        2,
        "the menu was offered again\n{log}"
    );
    // The key at 1 s, then "invalid choice" (2.6 s) and the menu (3.6 s) in full, then
    // the timeout.
    let least = Duration::from_millis(1_000 + 2_600 + 3_600) + Duration::from_secs(TIMEOUT_SECONDS);
    assert!(
        started.elapsed() >= least,
        "the default came after {:?}, sooner than {least:?}\n{}",
        started.elapsed(),
        describe(&call, &node, &phones.each_ref())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_pressing_3_in_the_menu_is_transferred_to_an_outside_number_through_the_trunk() {
    let (node, phones, outside) = staffed_with_outside().await;
    let call = run(pressing(&node, MENU, '3')).await;
    let [anna, piotr, maria] = &phones;
    let all = [anna, piotr, maria, &outside];
    assert!(
        call.all_calls_succeeded(),
        "{}",
        describe(&call, &node, &all)
    );
    assert_eq!(rung(&phones), [0, 0, 0], "{}", describe(&call, &node, &all));
    let invite = outside
        .received("INVITE")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the outside number never rang\n{}", outside.describe()));
    assert!(
        invite.start_line.contains(&format!("{OUTSIDE}@")),
        "{}",
        invite.start_line
    );
    assert!(
        outside.wait_for("BYE", 1, Duration::from_secs(3)),
        "the caller's BYE reached the outside number\n{}",
        outside.describe()
    );
}
