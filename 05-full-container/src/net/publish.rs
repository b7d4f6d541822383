//! `--publish HOST:CONTAINER`: a port of the host's loopback that reaches
//! a server in the container, by a small userspace proxy in tincan.
//!
//! The alternative is a DNAT rule in nftables' `output` hook. For packets
//! to 127.0.0.1 that is not enough: the kernel refuses to route a loopback
//! destination out of another interface unless `route_localnet` is set,
//! and that setting makes 127.0.0.0/8 routable on the interface, which is
//! a hole of its own (remote hosts may then reach services bound to
//! loopback). Docker faces the same choice and runs `docker-proxy` for
//! loopback connections. Here the proxy is one listening socket, bound
//! before the container is created (a port in use fails at once, with
//! nothing left), and a thread pair per connection copying bytes.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

use anyhow::{Context, Result};

use super::Publish;

/// A bound, not yet serving, published port.
pub struct Listener {
    listener: TcpListener,
    publish: Publish,
}

// ANCHOR: publish
/// Bind `127.0.0.1:HOSTPORT` (bind(2), listen(2)).
pub fn bind(publish: Publish) -> Result<Listener> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, publish.host_port));
    let listener = TcpListener::bind(address).with_context(|| {
        format!(
            "--publish {}:{}: bind 127.0.0.1:{} (is the port in use? pick another HOSTPORT)",
            publish.host_port, publish.container_port, publish.host_port
        )
    })?;
    Ok(Listener { listener, publish })
}

impl Listener {
    /// Accept connections for as long as tincan runs; connect each to
    /// `container:CONTPORT` and copy both ways.
    pub fn serve(self, container: Ipv4Addr) {
        let target = SocketAddr::from((container, self.publish.container_port));
        std::thread::spawn(move || {
            for client in self.listener.incoming().flatten() {
                std::thread::spawn(move || {
                    if let Ok(server) = TcpStream::connect(target) {
                        splice(client, server);
                    }
                });
            }
        });
    }
}
// ANCHOR_END: publish

/// Copy bytes both ways until each side closes its half.
fn splice(client: TcpStream, server: TcpStream) {
    let (Ok(mut client_read), Ok(mut server_read)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let (mut client_write, mut server_write) = (client, server);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}
