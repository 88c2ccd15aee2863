//! What a test command gets to reach the server: the account and database
//! names, a libpq URL and the environment variables client libraries read.

use std::net::IpAddr;

use crate::listen::Listen;

/// The superuser created by `initdb` and the database the test gets.
///
/// `postgres`/`postgres` rather than a flakebox-specific name: it is what test suites
/// and CI configs already assume (`-U postgres`, `.../postgres`), and it saves copying
/// a fourth database (~7 MB) on every start.
pub const USER: &str = "postgres";
/// The database named in [`crate::Server::env`].
pub const DATABASE: &str = "postgres";
/// A password exported for clients that insist on one; authentication is `trust`,
/// so the server never checks it.
pub const PASSWORD: &str = "postgres";

/// A libpq URL: over TCP when the server listens there, else over the socket.
/// `postgresql://` rather than `postgres://`: SQLAlchemy accepts only the former,
/// libpq, sqlx, Rails, Django and node-postgres accept both.
pub(crate) fn database_url(listen: &Listen) -> String {
    match listen.tcp {
        Some((ip, port)) => {
            let host = match ip {
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            };
            format!("postgresql://{USER}:{PASSWORD}@{host}:{port}/{DATABASE}")
        }
        None => format!(
            "postgresql://{USER}:{PASSWORD}@/{DATABASE}?host={}&port={}",
            listen.unix_dir.display(),
            listen.port()
        ),
    }
}

/// The environment for the test command: the libpq variables (psql, psycopg,
/// Rails' pg, Django, node-postgres, sqlx's `PgConnectOptions`), `DATABASE_URL`
/// (Rails, sqlx, dj-database-url, SQLAlchemy setups), the Docker image's
/// `POSTGRES_*` names many compose-derived test configs read, and the Heroku-style
/// `JDBC_DATABASE_URL`.
pub(crate) fn env(listen: &Listen) -> Vec<(String, String)> {
    let host = match listen.tcp {
        Some((ip, _)) => ip.to_string(),
        None => listen.unix_dir.display().to_string(),
    };
    let port = listen.port().to_string();
    let jdbc_host = match listen.tcp {
        Some((IpAddr::V6(v6), _)) => format!("[{v6}]"),
        Some((ip, _)) => ip.to_string(),
        // JDBC cannot use a unix socket without extra libraries; the URL still
        // names the database so tools that parse it do not break.
        None => "localhost".into(),
    };
    let v = vec![
        ("DATABASE_URL", database_url(listen)),
        ("PGHOST", host.clone()),
        ("PGPORT", port.clone()),
        ("PGUSER", USER.into()),
        ("PGPASSWORD", PASSWORD.into()),
        ("PGDATABASE", DATABASE.into()),
        ("PGSSLMODE", "disable".into()),
        ("POSTGRES_HOST", host),
        ("POSTGRES_PORT", port.clone()),
        ("POSTGRES_USER", USER.into()),
        ("POSTGRES_PASSWORD", PASSWORD.into()),
        ("POSTGRES_DB", DATABASE.into()),
        (
            "JDBC_DATABASE_URL",
            format!("jdbc:postgresql://{jdbc_host}:{port}/{DATABASE}?user={USER}&password={PASSWORD}"),
        ),
    ];
    v.into_iter().map(|(k, val)| (k.to_owned(), val)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn urls_over_tcp_and_over_the_socket() {
        let v6 = Listen { tcp: Some(("::1".parse().expect("ip"), 6000)), unix_dir: "/s".into() };
        assert_eq!(database_url(&v6), "postgresql://postgres:postgres@[::1]:6000/postgres");
        let sock = Listen { tcp: None, unix_dir: "/run/pg".into() };
        assert_eq!(database_url(&sock), "postgresql://postgres:postgres@/postgres?host=/run/pg&port=5432");
        let env = env(&sock);
        assert_eq!(get(&env, "PGHOST"), Some("/run/pg"));
        assert_eq!(get(&env, "PGPORT"), Some("5432"));
        assert_eq!(
            get(&env, "JDBC_DATABASE_URL"),
            Some("jdbc:postgresql://localhost:5432/postgres?user=postgres&password=postgres")
        );
    }
}
