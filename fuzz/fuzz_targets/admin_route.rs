//! Fuzzes the admin face's routing: any method and path (percent-escapes,
//! dots, slashes, long segments) must get an answer, never a panic, and
//! only one of the statuses docs/admin.md lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logbus::admin::{RequestMetrics, route_status};
use logbus::broker::{Broker, BrokerConfig};
use std::sync::OnceLock;

fn broker() -> &'static (Broker, RequestMetrics) {
    static BROKER: OnceLock<(Broker, RequestMetrics)> = OnceLock::new();
    BROKER.get_or_init(|| {
        let broker = Broker::open(BrokerConfig::in_memory()).expect("in-memory broker");
        (broker, RequestMetrics::new())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = ["GET", "HEAD", "POST", "DELETE", "PUT", "OPTIONS"][usize::from(m) % 6];
    let path = String::from_utf8_lossy(rest);
    let (broker, metrics) = broker();
    let status = route_status(broker, metrics, method, &path);
    assert!(
        matches!(status, 200 | 400 | 404 | 405 | 500 | 503),
        "{method} {path:?} answered {status}"
    );
});
