//! A TCP relay that a test can cut and heal: the fault-injecting transport for partition tests.
//!
//! Put one in front of each node's listener and advertise the relay's address instead of the node's.
//! [`Relay::cut`] refuses everyone (and drops live connections), [`Relay::cut_from`] refuses one
//! source address only, so a node bound to its own loopback address (127.0.0.x) can be isolated in
//! both directions; [`Relay::heal`] lets traffic through again. [`Relay::redirect`] sends new
//! connections elsewhere (a load balancer moving to another node). Plain threads, so sync and async
//! tests alike can use it.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// A running relay; dropping it stops it and closes every connection it carries.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    target: Mutex<SocketAddr>,
    stopped: AtomicBool,
    blocked: Mutex<Blocked>,
    /// Live connections: the client's address and both sockets, so a cut can close them.
    live: Mutex<Vec<(IpAddr, TcpStream, TcpStream)>>,
}

#[derive(Default)]
struct Blocked {
    everyone: bool,
    sources: BTreeSet<IpAddr>,
}

impl Blocked {
    fn refuses(&self, source: IpAddr) -> bool {
        self.everyone || self.sources.contains(&source)
    }
}

impl Relay {
    /// Listens on `listen` (port 0 for any) and relays each connection to `target`.
    ///
    /// # Errors
    /// When `listen` can't be bound.
    pub fn start(listen: SocketAddr, target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            stopped: AtomicBool::new(false),
            blocked: Mutex::default(),
            live: Mutex::default(),
        });
        let accepting = Arc::clone(&shared);
        thread::spawn(move || accept_loop(&listener, &accepting));
        Ok(Self { addr, shared })
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Refuses every connection and closes the live ones.
    pub fn cut(&self) {
        self.shared.blocked().everyone = true;
        self.shared.close_where(|_| true);
    }

    /// Refuses connections from `source` and closes its live ones.
    pub fn cut_from(&self, source: IpAddr) {
        self.shared.blocked().sources.insert(source);
        self.shared.close_where(|from| from == source);
    }

    /// Relays new connections to `target` from now on (live ones stay where they are).
    pub fn redirect(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap_or_else(PoisonError::into_inner) = target;
    }

    /// Lets everyone through again.
    pub fn heal(&self) {
        *self.shared.blocked() = Blocked::default();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.close_where(|_| true);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

impl Shared {
    fn blocked(&self) -> std::sync::MutexGuard<'_, Blocked> {
        self.blocked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close_where(&self, matches: impl Fn(IpAddr) -> bool) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|(from, client, server)| {
            if matches(*from) {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                false
            } else {
                true
            }
        });
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(from) = client.peer_addr().map(|addr| addr.ip()) else {
            continue;
        };
        if shared.blocked().refuses(from) {
            // Dropping it resets the connection: the caller sees the peer as unreachable.
            continue;
        }
        let target = *shared.target.lock().unwrap_or_else(PoisonError::into_inner);
        let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(client_read), Ok(server_read), Ok(client_keep), Ok(server_keep)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((from, client_keep, server_keep));
        thread::spawn(move || pipe(client_read, server));
        thread::spawn(move || pipe(server_read, client));
    }
}

/// Copies one direction until either side closes, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use std::io::{Read, Write};

    use super::*;

    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = stream;
                    let _ = io::copy(&mut reader, &mut writer);
                });
            }
        });
        addr
    }

    fn round_trip(addr: SocketAddr) -> io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"ping")?;
        let mut got = [0u8; 4];
        stream.read_exact(&mut got)?;
        Ok(got.to_vec())
    }

    #[test]
    fn relays_until_cut_and_again_after_healing() {
        let relay = Relay::start("127.0.0.1:0".parse().unwrap(), echo_server()).unwrap();
        assert_eq!(round_trip(relay.addr()).unwrap(), b"ping");
        let mut held = TcpStream::connect(relay.addr()).unwrap();
        held.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        held.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        held.read_exact(&mut one).unwrap();

        relay.cut();
        assert!(round_trip(relay.addr()).is_err(), "a cut relay passed traffic");
        // The connection that was live is closed too.
        let _ = held.write_all(b"y");
        assert!(matches!(held.read(&mut one), Ok(0) | Err(_)));

        relay.heal();
        assert_eq!(round_trip(relay.addr()).unwrap(), b"ping");
        relay.cut_from("127.0.0.1".parse().unwrap());
        assert!(round_trip(relay.addr()).is_err());
        relay.heal();
        assert_eq!(round_trip(relay.addr()).unwrap(), b"ping");

        // Redirected to a port nobody listens on: new connections fail.
        let nobody = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        relay.redirect(nobody);
        assert!(round_trip(relay.addr()).is_err());
    }
}
