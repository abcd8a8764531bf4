//! The bytes under the WebSocket: name resolution and TCP bounded by the
//! attempt's deadline (addresses raced, as RFC 8305 does), TLS, and the
//! read timeout that a wake window drives.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::Shared;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::tls::TlsConfig;

/// How far past the end of its wake window a read may still block before
/// the read timeout is set again. Re-arming costs a syscall; this keeps it
/// rare under load.
const SLACK: Duration = Duration::from_millis(5);

/// Under TLS, rustls asks for at most a record (16 KiB, often 4 KiB) per
/// read; one read of the socket into a buffer this large serves many of
/// them (plain reads come from tungstenite's own 128 KiB buffer instead).
const TLS_READ_BUFFER: usize = 64 * 1024;

/// RFC 8305's "Connection Attempt Delay": the next address is tried this
/// long after the previous one if that one has not connected yet.
const NEXT_ADDRESS_AFTER: Duration = Duration::from_millis(250);

/// The TCP socket under the WebSocket (and under TLS), with the read
/// timeout driven by a wake window and the stop-aware end of file.
///
/// Linux rounds a socket timeout up to its timer wheel's granularity, which
/// for long timeouts is up to 1/8 of the timeout (a 30 s timeout can fire
/// 2 s late). So a timeout is aimed at 15/16 of the time left before the
/// window's end, and any wake-up inside the window counts: the heartbeat
/// goes out on time, with one wake-up, instead of late.
///
/// Under TLS it also buffers: see [`TLS_READ_BUFFER`].
pub(crate) struct Tcp {
    pub sock: TcpStream,
    shared: Arc<Shared>,
    /// Wake no earlier than `.0` and no later than `.1`.
    pub window: Option<(Instant, Instant)>,
    /// The read timeout currently set on the socket.
    timeout: Option<Duration>,
    /// Reads of the socket so far (syscalls, not reads served from
    /// `buf`): while it stands still, no time passed in the kernel.
    pub reads: u64,
    /// Set while parsed events wait to be handed over: a read that would
    /// go to the socket (and might block) returns `WouldBlock` at once
    /// instead and sets `held`, so that the caller hands them over first.
    pub hold: bool,
    pub held: bool,
    /// Read ahead for TLS: `buf[pos..end]` is not handed on yet.
    buffered: bool,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl Tcp {
    pub fn new(sock: TcpStream, shared: Arc<Shared>) -> Self {
        Tcp {
            sock,
            shared,
            window: None,
            timeout: None,
            reads: 0,
            hold: false,
            held: false,
            buffered: false,
            buf: Vec::new(),
            pos: 0,
            end: 0,
        }
    }

    /// One read of the socket, with the wake window's timeout.
    fn read_socket(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.hold {
            self.held = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        loop {
            self.arm()?;
            self.reads += 1;
            match self.sock.read(buf) {
                // A read half shut down by `request_stop` reads as end of
                // file: report it as a timeout, so the WebSocket stays
                // usable for the Close frame.
                Ok(0) if self.shared.stopping() => return Err(io::ErrorKind::WouldBlock.into()),
                // A signal handled elsewhere in the process: read again
                // (re-armed: the time it took counts).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if self.shared.stopping() {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                }
                other => return other,
            }
        }
    }

    /// Reads without a wake window from now on, each read of the socket
    /// waiting at most `every` (a close that drains the connection).
    pub fn poll_reads(&mut self, every: Duration) {
        self.window = None;
        if self.sock.set_read_timeout(Some(every)).is_ok() {
            self.timeout = Some(every);
        }
    }

    fn arm(&mut self) -> io::Result<()> {
        let Some((earliest, latest)) = self.window else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= latest {
            // Due: let the caller act before blocking.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let fits = self.timeout.is_some_and(|t| {
            let ends = now + t;
            ends >= earliest && ends <= latest + SLACK
        });
        if !fits {
            let left = latest - now;
            let t = (left - left / 16)
                .max(earliest.saturating_duration_since(now))
                .max(Duration::from_millis(1));
            self.sock.set_read_timeout(Some(t))?;
            self.timeout = Some(t);
        }
        Ok(())
    }
}

impl Read for Tcp {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.end {
            let n = (self.end - self.pos).min(out.len());
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        if !self.buffered || out.len() >= TLS_READ_BUFFER {
            return self.read_socket(out);
        }
        let mut buf = std::mem::take(&mut self.buf);
        if buf.is_empty() {
            buf = vec![0; TLS_READ_BUFFER];
        }
        let got = self.read_socket(&mut buf);
        self.buf = buf;
        let got = got?;
        let n = got.min(out.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        (self.pos, self.end) = (n, got);
        Ok(n)
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// Plain TCP (loopback only) or TLS.
pub(crate) enum Stream {
    Plain(Tcp),
    Tls(Box<StreamOwned<ClientConnection, Tcp>>),
}

impl Stream {
    pub fn tcp(&mut self) -> &mut Tcp {
        match self {
            Stream::Plain(t) => t,
            Stream::Tls(s) => &mut s.sock,
        }
    }

    /// Wraps a connected socket in TLS for `ep`, when it is `wss`.
    pub fn new(mut tcp: Tcp, ep: &Endpoint, tls: &TlsConfig) -> Result<Stream> {
        if !ep.secure {
            return Ok(Stream::Plain(tcp));
        }
        tcp.buffered = true;
        let name = ServerName::try_from(ep.host.clone())
            .map_err(|e| Error::Config(format!("WebSocket URL host {:?}: {e}", ep.host)))?;
        let conn = ClientConnection::new(tls.rustls_config(), name).map_err(|e| Error::Tls {
            context: "starting TLS".into(),
            source: Box::new(e),
        })?;
        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }

    /// Ends the connection at once, both ways (a failed attempt).
    pub fn abort(&mut self) {
        let _ = self.tcp().sock.shutdown(Shutdown::Both);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// Resolves `host`, bounded by `deadline` and interrupted by a stop
/// (`stop` disconnects). An IP address needs no lookup; a name is looked
/// up on a short-lived thread, since the system resolver has no timeout
/// (a lookup that outlives the deadline is abandoned and ends on its own).
pub(crate) fn resolve(
    host: &str,
    port: u16,
    deadline: Instant,
    stop: &Receiver<()>,
) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("zoom-ws-dns".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })?;
    let left = deadline.saturating_duration_since(Instant::now());
    select! {
        recv(rx) -> r => r.unwrap_or_else(|_| Err(io::Error::other("the resolver thread ended"))),
        recv(stop) -> _ => Err(io::Error::new(io::ErrorKind::Interrupted, "closing")),
        default(left) => Err(timed_out("resolving the host")),
    }
}

/// Orders addresses for racing: families alternate, starting with the
/// family of the first (RFC 8305 section 4).
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_v6 = first.is_ipv6();
    let (mut same, mut other): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(same.len() + other.len());
    same.reverse();
    other.reverse();
    loop {
        match (same.pop(), other.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Connects to one of `addrs` by `deadline`, interrupted by a stop (`stop`
/// disconnects). The addresses are raced: each gets its own thread, started
/// [`NEXT_ADDRESS_AFTER`] after the previous one unless that one failed
/// first, and the first to connect wins. A black-holed address therefore
/// costs 250 ms, not the whole budget. A single address goes the same way,
/// so that a stop never waits for its connect.
pub(crate) fn connect_tcp(
    addrs: Vec<SocketAddr>,
    deadline: Instant,
    stop: &Receiver<()>,
) -> io::Result<TcpStream> {
    let budget = |now: Instant| {
        deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| timed_out("connecting"))
    };
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no address"));
    }
    let (tx, rx) = crossbeam_channel::unbounded::<io::Result<TcpStream>>();
    let mut pending = interleave(addrs).into_iter();
    let mut running = 0usize;
    let mut last_err = None;
    loop {
        let now = Instant::now();
        if let Some(addr) = pending.next() {
            let left = budget(now)?;
            let tx = tx.clone();
            std::thread::Builder::new()
                .name("zoom-ws-connect".into())
                .spawn(move || {
                    // A late winner finds the receiver gone: the socket is
                    // dropped (closed) here.
                    let _ = tx.send(TcpStream::connect_timeout(&addr, left));
                })?;
            running += 1;
        } else if running == 0 {
            return Err(last_err.unwrap_or_else(|| timed_out("connecting")));
        }
        let wait = if pending.len() > 0 {
            NEXT_ADDRESS_AFTER.min(budget(now)?)
        } else {
            budget(now)?
        };
        select! {
            recv(rx) -> r => match r {
                Ok(Ok(sock)) => return Ok(sock),
                Ok(Err(e)) => {
                    running -= 1;
                    last_err = Some(e);
                    // A failure starts the next address at once.
                }
                Err(_) => return Err(last_err.unwrap_or_else(|| timed_out("connecting"))),
            },
            recv(stop) -> _ => return Err(io::Error::new(io::ErrorKind::Interrupted, "closing")),
            default(wait) => {
                if pending.len() == 0 {
                    return Err(timed_out("connecting"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn tcp() -> (Tcp, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        let (shared, _) = Shared::new();
        (Tcp::new(sock, shared), peer)
    }

    #[test]
    fn read_timeout_aims_inside_the_wake_window() {
        let (mut tcp, _peer) = tcp();
        let now = Instant::now();
        tcp.window = Some((
            now + Duration::from_millis(875),
            now + Duration::from_secs(1),
        ));
        tcp.arm().unwrap();
        let t = tcp.sock.read_timeout().unwrap().unwrap();
        assert!(
            t >= Duration::from_millis(875) && t <= Duration::from_millis(940),
            "{t:?}"
        );
        // Still fits a moment later: no second setsockopt.
        tcp.sock
            .set_read_timeout(Some(Duration::from_secs(7)))
            .unwrap();
        tcp.arm().unwrap();
        assert_eq!(
            tcp.sock.read_timeout().unwrap(),
            Some(Duration::from_secs(7))
        );
        // A window that has ended reads as a timeout at once.
        tcp.window = Some((now, now));
        let e = tcp.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn end_of_file_after_stop_reads_as_a_timeout() {
        let (mut tcp, peer) = tcp();
        drop(peer);
        assert_eq!(tcp.read(&mut [0u8; 8]).unwrap(), 0);
        tcp.shared.request_stop();
        let e = tcp.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_hold_stops_a_read_before_the_socket() {
        let (mut tcp, mut peer) = tcp();
        tcp.buffered = true;
        peer.write_all(b"abcdef").unwrap();
        // All six bytes in the socket before the first read.
        let deadline = Instant::now() + Duration::from_secs(10);
        while tcp.sock.peek(&mut [0u8; 8]).unwrap() < 6 {
            assert!(Instant::now() < deadline, "the bytes did not arrive");
            std::thread::yield_now();
        }
        let mut two = [0u8; 2];
        assert_eq!(tcp.read(&mut two).unwrap(), 2);
        // Buffered bytes still come; the socket is not read.
        tcp.hold = true;
        assert_eq!(tcp.read(&mut two).unwrap(), 2);
        assert_eq!(tcp.read(&mut two).unwrap(), 2);
        let reads = tcp.reads;
        let e = tcp.read(&mut two).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(tcp.held);
        assert_eq!(tcp.reads, reads);
        tcp.hold = false;
        peer.write_all(b"gh").unwrap();
        assert_eq!(tcp.read(&mut two).unwrap(), 2);
        assert_eq!(&two, b"gh");
    }

    #[test]
    fn small_reads_are_served_from_one_read_of_the_socket() {
        let (mut tcp, mut peer) = tcp();
        tcp.buffered = true;
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        peer.write_all(&data).unwrap();
        drop(peer);
        let mut got = Vec::new();
        let mut chunk = [0u8; 100];
        loop {
            match tcp.read(&mut chunk).unwrap() {
                0 => break,
                n => got.extend_from_slice(&chunk[..n]),
            }
        }
        assert_eq!(got, data);
        // 10,000 bytes in reads of 100: a few socket reads, not a hundred.
        assert!(tcp.reads < 10, "{} reads", tcp.reads);
    }

    #[test]
    fn families_alternate() {
        let v4 = |p| SocketAddr::from(([127, 0, 0, 1], p));
        let v6 = |p| SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], p));
        assert_eq!(
            interleave(vec![v6(1), v6(2), v6(3), v4(4), v4(5)]),
            vec![v6(1), v4(4), v6(2), v4(5), v6(3)]
        );
        assert_eq!(interleave(vec![v4(1)]), vec![v4(1)]);
        assert!(interleave(vec![]).is_empty());
    }

    /// A listener whose accept queue is full: further SYNs are dropped, so
    /// connecting to it hangs as a black-holed address does.
    fn black_hole() -> (TcpListener, Vec<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // std listens with a backlog of 128: fill it without accepting.
        let mut fillers = Vec::new();
        for _ in 0..300 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(50)) {
                Ok(s) => fillers.push(s),
                Err(_) => break,
            }
        }
        (listener, fillers)
    }

    #[test]
    fn a_black_holed_first_address_costs_a_quarter_second_not_the_budget() {
        let (hole, _fillers) = black_hole();
        let good = TcpListener::bind("127.0.0.1:0").unwrap();
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let started = Instant::now();
        let sock = connect_tcp(
            vec![hole.local_addr().unwrap(), good.local_addr().unwrap()],
            started + Duration::from_secs(20),
            &stop,
        )
        .expect("the second address connects");
        assert_eq!(sock.peer_addr().unwrap(), good.local_addr().unwrap());
        // Well inside the 20 s budget (the exact figure is a benchmark's job).
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn refused_addresses_fail_fast_and_a_stop_interrupts() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let deadline = Instant::now() + Duration::from_secs(20);
        let e = connect_tcp(vec![closed, closed], deadline, &stop).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");

        let (hole, _fillers) = black_hole();
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let addr = hole.local_addr().unwrap();
        let t = std::thread::spawn(move || connect_tcp(vec![addr, addr], deadline, &stop));
        drop(stop_tx);
        let e = t.join().unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted, "{e}");
    }

    #[test]
    fn a_deadline_bounds_resolution_and_connect() {
        let (hole, _fillers) = black_hole();
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let addr = hole.local_addr().unwrap();
        let e = connect_tcp(
            vec![addr, addr],
            Instant::now() + Duration::from_millis(300),
            &stop,
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        let past = Instant::now();
        assert!(
            resolve("127.0.0.1", 1, past, &stop).is_ok(),
            "no lookup for an IP"
        );
    }
}
