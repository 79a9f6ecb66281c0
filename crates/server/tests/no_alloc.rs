//! The keep-alive path allocates nothing per request for a small fixed
//! response. A counting global allocator counts allocations made on the event
//! loop thread only (marked through `on_thread_start`); a client on another
//! thread sends 2,000 requests (and at least a second's worth, so the Date
//! header is reformatted on the way) on one connection after a warm-up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};

use osprey_server::{Model, Server, Shutdown};
use osprey_web::{Request, Response};

struct Counting;

static LOOP_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ON_LOOP: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: delegates to the system allocator; counting touches only an atomic
// and a const-initialised thread-local, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON_LOOP.with(Cell::get) {
            LOOP_ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON_LOOP.with(Cell::get) {
            LOOP_ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n";

fn roundtrip(stream: &mut TcpStream, buf: &mut [u8]) {
    stream.write_all(REQUEST).unwrap();
    let mut got = 0;
    // The response ends with the 13-byte body; read until it has arrived.
    while !buf[..got].ends_with(b"Hello, World!") {
        let n = stream.read(&mut buf[got..]).unwrap();
        assert!(n > 0, "server closed the connection");
        got += n;
    }
    assert!(buf.starts_with(b"HTTP/1.1 200 OK\r\n"));
}

#[test]
fn keep_alive_requests_allocate_nothing_on_the_loop() {
    let shutdown = Shutdown::manual();
    let server = Server::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .model(Model::Epoll)
        .shutdown(shutdown.clone())
        .on_thread_start(|| ON_LOOP.with(|c| c.set(true)))
        .handler(|_: &mut Request| Response::text("Hello, World!"))
        .bind()
        .unwrap();
    let addr = server.local_addrs()[0];
    let running = std::thread::spawn(move || server.run());

    let mut stream = TcpStream::connect(addr).unwrap();
    let mut buf = vec![0u8; 4096];
    for _ in 0..200 {
        roundtrip(&mut stream, &mut buf);
    }
    let before = LOOP_ALLOCATIONS.load(Ordering::SeqCst);
    // At least 2,000 requests, and across at least one wall-clock second, so
    // that the once-a-second Date refresh is on the measured path too.
    let started = std::time::Instant::now();
    let mut sent = 0;
    while sent < 2000 || started.elapsed() < std::time::Duration::from_millis(1100) {
        roundtrip(&mut stream, &mut buf);
        sent += 1;
    }
    let during = LOOP_ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert!(before > 0, "the counter sees the loop thread's allocations");
    assert_eq!(
        during, 0,
        "allocations on the loop during 2,000 keep-alive requests"
    );

    drop(stream);
    shutdown.request();
    running.join().unwrap().unwrap();
}
