//! The adapter's connections: sqlx's, handed out without sqlx's pool, and the read-only
//! connections on which the request path's point reads run where they are called.
//!
//! Why not `SqlitePool`: its acquire pings the connection (`test_before_acquire`) and its
//! release spawns a task that pings it again before the next caller may have it. Each ping is a
//! trip to the connection's worker thread, so one statement cost three trips, and with the
//! single writer every write in the process waited behind all three (a 4 KiB push makes about
//! a dozen writer statements). A ping finds nothing on a local file that the next statement
//! would not find itself. Here a connection is a mutex: taking it costs nothing when it is
//! free, and a caller that finds them all busy waits in line (tokio's semaphore is fair).

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::OpenFlags;
use sqlx::sqlite::{SqliteConnectOptions, SqliteTransactionManager};
use sqlx::{ConnectOptions, SqliteConnection, TransactionManager};
use tokio::sync::{Mutex, MutexGuard, Semaphore, SemaphorePermit};

use super::Result;

/// A fixed set of open connections to one database.
pub(super) struct Connections {
    conns: Vec<Mutex<SqliteConnection>>,
    free: Semaphore,
    next: AtomicUsize,
    options: SqliteConnectOptions,
}

/// One connection, held until dropped.
pub(super) struct Conn<'a> {
    // Declared first, so dropped first: a permit is free only while a connection is.
    conn: MutexGuard<'a, SqliteConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Connections {
    /// Opens `n` connections with `options`.
    pub(super) async fn open(options: SqliteConnectOptions, n: usize) -> Result<Connections> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            conns.push(Mutex::new(options.connect().await?));
        }
        Ok(Connections {
            conns,
            free: Semaphore::new(n),
            next: AtomicUsize::new(0),
            options,
        })
    }

    /// A free connection, waiting for one if all are in use.
    ///
    /// A connection left inside a transaction (its COMMIT failed on a full disk and the
    /// rollback found none open, so every later `BEGIN` would fail) is replaced by a fresh
    /// one; closing it makes SQLite roll back whatever is left, and writes recover once space
    /// is back.
    pub(super) async fn get(&self) -> Result<Conn<'_>> {
        let permit = self
            .free
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        // A permit is released only after its connection, so one is usually free; if the
        // scan races another taker, wait for the connection this caller started at.
        let free = (0..n).find_map(|i| self.conns[(start + i) % n].try_lock().ok());
        let mut conn = match free {
            Some(conn) => conn,
            None => self.conns[start % n].lock().await,
        };
        if SqliteTransactionManager::get_transaction_depth(&conn) != 0 {
            let stuck = std::mem::replace(&mut *conn, self.options.connect().await?);
            drop(stuck);
        }
        Ok(Conn {
            conn,
            _permit: permit,
        })
    }
}

impl Deref for Conn<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

/// Read-only connections on which a statement runs on the calling thread.
///
/// Why not sqlx here: every sqlx statement crosses to its connection's worker thread and back,
/// two context switches that cost more than the indexed read itself. A manifest GET answered
/// without its read ran 2.6 times as fast as one that read through sqlx; the same read on
/// the calling thread costs a few microseconds. So the short reads of the request path (a
/// manifest, a blob link, a page of names) run here, on the async worker that asks; anything
/// that scans stays on sqlx's readers, whose threads keep the async workers free.
pub(super) struct InlineReaders {
    conns: Vec<std::sync::Mutex<rusqlite::Connection>>,
    next: AtomicUsize,
}

/// How much of the database file the inline readers map. Address space, not memory: only
/// pages read are resident, and the kernel may drop them as it drops any file's cache.
const MMAP_SIZE: i64 = 1 << 30;

impl InlineReaders {
    /// Opens `n` read-only connections to the database at `path`, which must exist.
    pub(super) fn open(path: &Path, n: usize) -> Result<InlineReaders> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let conn = rusqlite::Connection::open_with_flags(path, flags)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            // Pages read through a shared mapping: no read call and no copy into a cache of
            // this connection's own, which a large database overflows (a catalog page at
            // 100,000 repositories touches a hundred scattered index pages).
            conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
            conns.push(std::sync::Mutex::new(conn));
        }
        Ok(InlineReaders {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `read` on a free connection, or waits for the one this caller starts at (each
    /// is held only for one short read).
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        let free = (0..n).find_map(|i| self.conns[(start + i) % n].try_lock().ok());
        let conn = match free {
            Some(conn) => conn,
            // A read that panicked left its connection as it was: nothing to repair.
            None => self.conns[start % n]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        };
        Ok(read(&conn)?)
    }
}
