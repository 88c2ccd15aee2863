//! Where the server listens: TCP address and port, unix socket directory.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// TCP address and port; `None` for the unix socket only.
    pub tcp: Option<(IpAddr, u16)>,
    /// Directory for the unix socket (`.s.PGSQL.<port>` and its lock file). Created
    /// if missing; when the server runs as another uid it is chowned to that uid.
    pub unix_dir: PathBuf,
}

impl Listen {
    /// The port: the TCP one, else 5432 (it also names the unix socket file).
    pub fn port(&self) -> u16 {
        self.tcp.map(|(_, p)| p).unwrap_or(5432)
    }

    /// The unix socket's path.
    pub(crate) fn socket_path(&self) -> PathBuf {
        self.unix_dir.join(format!(".s.PGSQL.{}", self.port()))
    }

    /// Settings given on the command line at every start (the template's
    /// postgresql.conf carries the durable ones, see `template::CONF`).
    pub(crate) fn server_args(&self) -> Vec<String> {
        let addr = match self.tcp {
            Some((ip, _)) => ip.to_string(),
            None => String::new(),
        };
        vec![
            "-c".into(),
            format!("port={}", self.port()),
            "-c".into(),
            format!("listen_addresses={addr}"),
            "-c".into(),
            format!("unix_socket_directories={}", self.unix_dir.display()),
        ]
    }
}

/// A free TCP port on 127.0.0.1 at the time of the call, for `--share net`, where
/// the server shares the host's network namespace. Another process can take it
/// before postgres binds it; `Server::start` then fails with the log tail.
pub fn free_loopback_port() -> io::Result<u16> {
    let l = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_only_listens_on_no_address() {
        let l = Listen { tcp: None, unix_dir: "/s".into() };
        assert_eq!(l.port(), 5432);
        assert_eq!(l.socket_path(), PathBuf::from("/s/.s.PGSQL.5432"));
        assert_eq!(
            l.server_args(),
            ["-c", "port=5432", "-c", "listen_addresses=", "-c", "unix_socket_directories=/s"]
        );
        let t = Listen { tcp: Some(([127, 0, 0, 1].into(), 6000)), unix_dir: "/s".into() };
        assert_eq!(t.server_args()[1..4], ["port=6000", "-c", "listen_addresses=127.0.0.1"]);
    }
}
