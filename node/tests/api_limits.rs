//! The API's limits against slow clients: headers or a body sent a byte at a time, a body that
//! stops, a connection left idle, and enough of them to take every connection slot. Each is cut
//! off, and a normal request is still answered.

mod common;

use common::Net;
use runnet_node::config::Config;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MAX_CONNECTIONS: usize = 12;
const HEADER_TIMEOUT_MS: u64 = 1_000;
const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// A slow client sends a byte this often.
const TRICKLE_INTERVAL_MS: u64 = 200;
/// Long past both timeouts: a client still connected by then was not cut off.
const GIVE_UP_AFTER_S: u64 = 30;

/// What a slow client saw.
struct Seen {
    /// The node closed the connection.
    cut: bool,
    /// Whatever the node sent before closing.
    answer: String,
}

fn limited_node() -> Net {
    let mut net = Net::init(1, 0, 0);
    let path = net.home(0).join("config.toml");
    let mut config = Config::load(&path).unwrap();
    config.api.max_connections = MAX_CONNECTIONS;
    config.api.header_timeout_ms = HEADER_TIMEOUT_MS;
    config.api.request_timeout_ms = REQUEST_TIMEOUT_MS;
    std::fs::write(&path, config.to_toml()).unwrap();
    net.start(0);
    net.wait("the API to answer", Duration::from_secs(60), |n| {
        n.status(0).is_some()
    });
    net
}

fn api_address(net: &Net) -> String {
    net.summary.nodes[0]
        .api
        .trim_start_matches("http://")
        .to_string()
}

/// Reads what has arrived; `false` once the node has closed the connection.
fn still_open(stream: &mut TcpStream, answer: &mut Vec<u8>) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    let open = loop {
        match stream.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break true,
            Err(_) => break false,
        }
    };
    open && stream.set_nonblocking(false).is_ok()
}

/// Connects now (so connections reach the node in the order of the calls), then on a thread
/// sends `head` at once and `trickle`, repeated, a byte at a time, until the node closes the
/// connection or `GIVE_UP_AFTER_S` passes. An empty `trickle` sends nothing more.
fn slow_client(address: &str, head: &[u8], trickle: &'static [u8]) -> JoinHandle<Seen> {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = head.to_vec();
    std::thread::spawn(move || {
        let give_up = Instant::now() + Duration::from_secs(GIVE_UP_AFTER_S);
        let mut answer = Vec::new();
        let mut bytes = trickle.iter().cycle();
        let mut cut = stream.write_all(&head).is_err();
        while !cut && Instant::now() < give_up {
            cut = !still_open(&mut stream, &mut answer);
            if let Some(byte) = bytes.next()
                && !cut
            {
                cut = stream.write_all(&[*byte]).is_err();
            }
            std::thread::sleep(Duration::from_millis(TRICKLE_INTERVAL_MS));
        }
        Seen {
            cut,
            answer: String::from_utf8_lossy(&answer).into_owned(),
        }
    })
}

const SLOW_HEADERS: &[u8] = b"GET /v1/status HTTP/1.1\r\nHost: node\r\nX-Pad: ";
const SLOW_BODY: &[u8] = b"POST /v1/tx HTTP/1.1\r\nHost: node\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n";
const WHOLE_REQUEST: &[u8] = b"GET /v1/status HTTP/1.1\r\nHost: node\r\n\r\n";

fn seen(clients: Vec<JoinHandle<Seen>>) -> Vec<Seen> {
    clients.into_iter().map(|c| c.join().unwrap()).collect()
}

fn assert_status_answered(net: &Net) {
    let status = net.client(0).get("/v1/status").unwrap();
    assert!(status["height"].is_u64(), "{status}");
}

#[test]
fn slow_clients_are_cut_off_and_the_node_still_answers() {
    let net = limited_node();
    let address = api_address(&net);

    // Fewer slow clients than slots: a normal request is answered while they trickle.
    let stalled_body = [SLOW_BODY, b"0123456789"].concat();
    let trickling_headers: Vec<_> = (0..3)
        .map(|_| slow_client(&address, SLOW_HEADERS, b"a"))
        .collect();
    let trickling_bodies: Vec<_> = (0..3)
        .map(|_| slow_client(&address, SLOW_BODY, b"0"))
        .collect();
    let stalled = slow_client(&address, &stalled_body, b"");
    let idle = slow_client(&address, WHOLE_REQUEST, b"");
    assert_status_answered(&net);

    for s in seen(trickling_headers) {
        assert!(s.cut, "a client trickling its headers kept its connection");
        assert!(s.answer.is_empty(), "{}", s.answer);
    }
    for s in seen(trickling_bodies) {
        assert!(s.cut, "a client trickling its body kept its connection");
        // The 408 may be lost to the reset the unread bytes cause; when it arrives, it is that.
        assert!(
            s.answer.is_empty() || s.answer.starts_with("HTTP/1.1 408"),
            "{}",
            s.answer
        );
    }
    let stalled = stalled.join().unwrap();
    assert!(
        stalled.cut,
        "a client whose body stopped kept its connection"
    );
    assert!(
        stalled.answer.starts_with("HTTP/1.1 408") && stalled.answer.contains("\"timeout\""),
        "{}",
        stalled.answer
    );
    let idle = idle.join().unwrap();
    assert!(idle.cut, "an idle connection was kept");
    assert!(idle.answer.starts_with("HTTP/1.1 200"), "{}", idle.answer);

    // As many slow clients as slots: the next connection waits for a slot, which the header
    // timeout frees, and is then answered.
    let first_connected = Instant::now();
    let hogs: Vec<_> = (0..MAX_CONNECTIONS)
        .map(|_| slow_client(&address, SLOW_HEADERS, b"a"))
        .collect();
    assert_status_answered(&net);
    let waited = first_connected.elapsed();
    // Timers never fire early: no slot can free before the first slow client's timeout.
    assert!(
        waited >= Duration::from_millis(HEADER_TIMEOUT_MS * 9 / 10),
        "answered after {waited:?}, with every slot taken by a slow client"
    );
    for s in seen(hogs) {
        assert!(s.cut, "a client trickling its headers kept its connection");
    }
    assert_status_answered(&net);
    assert!(!net.log(0).contains("panicked"), "{}", net.log(0));
}
