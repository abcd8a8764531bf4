//! [`RedisConfig`]: where Redis is and how long to wait for it, and
//! `Link`, one lazily (re)connected blocking connection.

use std::fmt;
use std::io;
use std::time::Duration;

use redis::{Connection, ErrorKind, RedisError, ServerErrorKind, Value};

use crate::error::{Error, Result};

/// Where Redis (or Valkey) is, and the timeouts of every call.
///
/// URLs: `redis://[user:password@]host[:port][/db]`, `redis+unix:///path/to/redis.sock`,
/// and their `valkey` spellings. TLS (`rediss://`) is not built in: the
/// `redis` feature turns on no TLS stack of the redis crate. The URL may
/// hold a password: `Debug` shows only the scheme and host.
///
/// ```
/// use std::time::Duration;
/// let redis = zoom_ws::ha::RedisConfig::new("redis://:pw@127.0.0.1:6379/0")?
///     .timeout(Duration::from_millis(500));
/// assert_eq!(format!("{redis:?}"), r#"RedisConfig { at: "redis://127.0.0.1:6379", connect_timeout: 1s, timeout: 500ms }"#);
/// # Ok::<_, zoom_ws::Error>(())
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    client: redis::Client,
    /// scheme://host[:port] or the socket path, for logs.
    at: String,
    connect_timeout: Duration,
    timeout: Duration,
}

impl RedisConfig {
    /// Parses the URL (no connection yet). Defaults: connect timeout 1 s,
    /// read and write timeout 1 s.
    pub fn new(url: &str) -> Result<RedisConfig> {
        let client = redis::Client::open(url).map_err(|e| {
            Error::Config(format!(
                "Redis URL: {}",
                crate::text::truncate(&e.to_string(), 200)
            ))
        })?;
        let at = match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port) => format!("redis://{host}:{port}"),
            redis::ConnectionAddr::Unix(path) => format!("redis+unix://{}", path.display()),
            other => format!("{other}"),
        };
        Ok(RedisConfig {
            client,
            at,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        })
    }

    /// Bound of one connection attempt. Default 1 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Read and write timeout of every command (blocking reads add their
    /// BLOCK time to it). Default 1 s. It bounds how long a relay waits
    /// on an unreachable Redis before it counts a renew as failed, so keep
    /// it well under the lease TTL.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A new connection whose reads time out after `read_timeout`.
    pub(crate) fn connect(&self, read_timeout: Duration) -> redis::RedisResult<Connection> {
        let conn = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        conn.set_read_timeout(Some(read_timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }

    /// Where it points (scheme and host, or the socket path; never the
    /// password).
    pub fn address(&self) -> &str {
        &self.at
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("at", &self.at)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One blocking connection, opened on first use and again after an I/O
/// error (a broken connection is dropped, the next call reconnects).
pub(crate) struct Link {
    config: RedisConfig,
    /// Read timeout of this connection (a blocking reader's is longer).
    read_timeout: Duration,
    conn: Option<Connection>,
    /// True after a failure, until a call succeeds: logs the change only.
    failing: bool,
}

impl Link {
    pub(crate) fn new(config: RedisConfig) -> Link {
        let read_timeout = config.timeout;
        Link {
            config,
            read_timeout,
            conn: None,
            failing: false,
        }
    }

    /// A link for blocking reads of up to `block`: its read timeout is
    /// `block` plus the configured timeout.
    pub(crate) fn for_blocking(config: RedisConfig, block: Duration) -> Link {
        let mut link = Link::new(config);
        link.read_timeout = block + link.config.timeout;
        link
    }

    pub(crate) fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Runs `f` on the connection, connecting first if needed. On an I/O
    /// error or a timeout the connection is dropped (the next call
    /// reconnects); a server error leaves it open.
    pub(crate) fn run<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let result = match self.connection() {
            Ok(conn) => f(conn),
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                if self.failing {
                    self.failing = false;
                    log::info!("zoom-ws ha: Redis at {} answers again", self.config.at);
                }
                Ok(v)
            }
            Err(e) => {
                if broken(&e) {
                    self.conn = None;
                }
                if !self.failing {
                    self.failing = true;
                    log::warn!(
                        "zoom-ws ha: Redis at {}: {what}: {}",
                        self.config.at,
                        crate::text::truncate(&e.to_string(), 200)
                    );
                }
                Err(redis_error(what, &e))
            }
        }
    }

    fn connection(&mut self) -> redis::RedisResult<&mut Connection> {
        if self.conn.is_none() {
            self.conn = Some(self.config.connect(self.read_timeout)?);
        }
        Ok(self.conn.as_mut().expect("set above"))
    }
}

/// True if the connection cannot be trusted after `e` (I/O, timeout, a
/// reply that was not understood): drop it.
fn broken(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(e.kind(), ErrorKind::Parse | ErrorKind::Io)
}

/// A reply value as text: a string or an integer; `None` for the rest.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// True if Redis no longer knows a script (restarted, `SCRIPT FLUSH`).
pub(crate) fn is_noscript(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Server(ServerErrorKind::NoScript))
}

/// The crate's error for a Redis failure: [`Error::Network`] (transient)
/// for I/O and timeouts, [`Error::InvalidResponse`] for the rest.
pub(crate) fn redis_error(what: &str, e: &RedisError) -> Error {
    let text = crate::text::truncate(&e.to_string(), 300).to_owned();
    if broken(e) {
        let kind = if e.is_timeout() {
            io::ErrorKind::TimedOut
        } else if e.is_connection_refusal() {
            io::ErrorKind::ConnectionRefused
        } else {
            io::ErrorKind::Other
        };
        Error::network(format!("Redis: {what}"), io::Error::new(kind, text))
    } else {
        Error::invalid(format!("Redis: {what}"), text)
    }
}
