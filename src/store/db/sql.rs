//! The index connection the model speaks: one small API, two engines.
//!
//! The model (drafts, publish, links, gc rules, named drafts) is written once,
//! as SQL over this API, and runs on the embedded SQLite index or on a
//! PostgreSQL one (issue 20). The API is rusqlite's own shape, cut down to
//! what the model uses — `prepare_cached`, `query_row`, `query_map`,
//! `execute`, transactions and savepoints, `named_params!` — so the model
//! reads as it did, and SQLite pays only a `match` per call.
//!
//! What differs between the engines is kept here, not at the call sites:
//! - parameters: the model writes `:name` (and `?N`); PostgreSQL gets `$N`;
//! - types: a value binds by what the server expects for it (an `i64` to an
//!   `INTEGER` parameter, a number to a text one), and any column reads as
//!   SQLite's five storage classes ([`ValueRef`]), so one `row.get` works
//!   on both;
//! - `INDEXED BY index` (SQLite's planner hint) is dropped: PostgreSQL's
//!   planner has statistics;
//! - `json_each(:param)` (the rows of a JSON array of texts, as `value`)
//!   becomes PostgreSQL's `json_array_elements_text`;
//! - prepared statements are cached per connection, on both.
//!
//! The SQL itself is written once, in what both engines accept (`RETURNING`,
//! `ON CONFLICT`, `coalesce`, `max`/`min` as aggregates); where they differ
//! in substance, [`Connection::engine`] says which one runs. What belongs to
//! one engine alone (PRAGMAs, SQLite's integrity check, its WAL) goes through
//! [`Connection::sqlite`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

/// What a query failed with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// `shown` says where the server is (never a password).
    #[error("{shown}: {}", pg_message(source))]
    Postgres {
        shown: Arc<str>,
        #[source]
        source: postgres::Error,
    },
    #[error("query returned no rows")]
    NoRows,
    #[error("column {column}: {message}")]
    Conversion { column: usize, message: String },
    #[error("no value given for parameter :{0}")]
    MissingParameter(String),
    /// A statement of the transaction failed, so it was rolled back, not
    /// committed.
    #[error(
        "a statement of the transaction failed earlier: it was rolled back, nothing was committed"
    )]
    Aborted,
    /// The server closed the connection, and connecting again failed.
    #[error("{shown}: connecting again: {detail}")]
    Reconnect { shown: Arc<str>, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A PostgreSQL error with what the server said (the driver's own text for
/// a server error is only "db error").
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            text
        }
        None => e.to_string(),
    }
}

impl Error {
    /// Whether another connection held the index for the whole busy
    /// timeout (SQLite's `SQLITE_BUSY`).
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::Sqlite(e)
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy))
    }
}

/// Which engine holds the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A value as a query reads it: SQLite's storage classes, borrowed from the
/// row. PostgreSQL's integers and booleans read as `Integer`, its text and
/// JSON as `Text`, `BYTEA` as `Blob`, floats as `Real`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl<'a> From<rusqlite::types::ValueRef<'a>> for ValueRef<'a> {
    fn from(v: rusqlite::types::ValueRef<'a>) -> Self {
        use rusqlite::types::ValueRef as V;
        match v {
            V::Null => ValueRef::Null,
            V::Integer(i) => ValueRef::Integer(i),
            V::Real(f) => ValueRef::Real(f),
            V::Text(t) => ValueRef::Text(t),
            V::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef as V;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match *self {
            ValueRef::Null => V::Null,
            ValueRef::Integer(i) => V::Integer(i),
            ValueRef::Real(f) => V::Real(f),
            ValueRef::Text(t) => V::Text(t),
            ValueRef::Blob(b) => V::Blob(b),
        }))
    }
}

/// A value owned, as a copy between engines carries it from a row read to
/// a row written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl Value {
    /// About how many bytes it takes.
    pub fn len(&self) -> usize {
        match self {
            Value::Text(b) | Value::Blob(b) => b.len(),
            _ => 8,
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(t.to_vec()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(t) => ValueRef::Text(t),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

/// A value a query binds.
pub trait ToSql {
    fn to_sql(&self) -> ValueRef<'_>;
}

macro_rules! to_sql_integer {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> ValueRef<'_> {
                ValueRef::Integer(*self as i64)
            }
        }
    )*};
}
to_sql_integer!(i64, i32, i16, u32, u16, u8);

impl ToSql for u64 {
    /// Sizes and counts: none comes near 2^63, and SQLite's integers stop there.
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for usize {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for bool {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::from(*self))
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl ToSql for str {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Text(self.as_bytes())
    }
}

impl ToSql for String {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Text(self.as_bytes())
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> ValueRef<'_> {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.to_sql(),
            None => ValueRef::Null,
        }
    }
}

impl ToSql for ValueRef<'_> {
    fn to_sql(&self) -> ValueRef<'_> {
        *self
    }
}

/// A value a row's column converts to.
pub trait FromSql: Sized {
    /// The value, or what was wrong with it.
    fn column_result(value: ValueRef<'_>) -> std::result::Result<Self, String>;
}

fn wrong_type(value: ValueRef<'_>, wanted: &str) -> String {
    let found = match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    format!("expected {wanted}, found {found}")
}

impl FromSql for i64 {
    fn column_result(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Integer(i) => Ok(i),
            v => Err(wrong_type(v, "an integer")),
        }
    }
}

macro_rules! from_sql_integer {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> std::result::Result<Self, String> {
                let i = i64::column_result(value)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
from_sql_integer!(i32, u32, u64, usize, u16, u8);

impl FromSql for bool {
    fn column_result(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        Ok(i64::column_result(value)? != 0)
    }
}

impl FromSql for f64 {
    fn column_result(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Integer(i) => Ok(i as f64),
            ValueRef::Real(f) => Ok(f),
            v => Err(wrong_type(v, "a number")),
        }
    }
}

impl FromSql for String {
    fn column_result(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|e| e.to_string()),
            v => Err(wrong_type(v, "text")),
        }
    }
}

impl FromSql for Vec<u8> {
    fn column_result(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
            v => Err(wrong_type(v, "a blob")),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn column_result(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Null => Ok(None),
            v => T::column_result(v).map(Some),
        }
    }
}

/// A column of a row, by position.
pub trait RowIndex {
    fn index(&self) -> usize;
}

impl RowIndex for usize {
    fn index(&self) -> usize {
        *self
    }
}

/// One row of a query's answer.
pub struct Row<'a>(RowInner<'a>);

enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl<'a> Row<'a> {
    /// Column `idx` as a `T`.
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let column = idx.index();
        T::column_result(self.get_ref(column)?)
            .map_err(|message| Error::Conversion { column, message })
    }

    /// Column `idx` as it is stored, borrowed from the row.
    pub fn get_ref(&self, idx: usize) -> Result<ValueRef<'_>> {
        match &self.0 {
            RowInner::Sqlite(row) => Ok(row.get_ref(idx)?.into()),
            RowInner::Postgres(row) => match row.try_get::<_, PgValue<'_>>(idx) {
                Ok(v) => Ok(v.0),
                Err(e) => Err(Error::Conversion {
                    column: idx,
                    message: e.to_string(),
                }),
            },
        }
    }
}

/// The values a statement binds: none (`[]`), or by name (`named_params!`).
pub trait Params {
    fn named(&self) -> &[(&str, &dyn ToSql)];
}

impl Params for [&dyn ToSql; 0] {
    fn named(&self) -> &[(&str, &dyn ToSql)] {
        &[]
    }
}

impl Params for &[(&str, &dyn ToSql)] {
    fn named(&self) -> &[(&str, &dyn ToSql)] {
        self
    }
}

impl<const N: usize> Params for &[(&str, &dyn ToSql); N] {
    fn named(&self) -> &[(&str, &dyn ToSql)] {
        &self[..]
    }
}

/// `named_params! {":key": value, …}`, as rusqlite's: the values are borrowed.
macro_rules! named_params {
    () => {
        &[] as &[(&str, &dyn $crate::store::db::sql::ToSql)]
    };
    ($($name:literal: $value:expr),+ $(,)?) => {
        &[$(($name, &$value as &dyn $crate::store::db::sql::ToSql)),+]
    };
}
pub(crate) use named_params;

/// `.optional()` on a query's result: no row is `None`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) | Err(Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// How a transaction starts: as rusqlite's. On PostgreSQL all three are
/// `BEGIN` (read committed); writers are serialized by advisory locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionBehavior {
    /// Takes the writers' lock at the start: SQLite's `BEGIN IMMEDIATE`,
    /// and on PostgreSQL an advisory lock every instance's writers take,
    /// so writes are serialized as on one SQLite file.
    Immediate,
}

/// The channel PostgreSQL writers notify, with their connection's id, when
/// they commit.
pub(crate) const CHANGES_CHANNEL: &str = "blockstore_changes";

/// The advisory lock PostgreSQL writers take for their transaction.
const WRITERS_LOCK: i64 = 0x626c_6f63_6b73_0002; // "blocks" + 2

/// A connection to the index.
pub struct Connection {
    engine: Conn,
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.engine {
            Conn::Sqlite(c) => f.debug_tuple("Connection").field(c).finish(),
            Conn::Postgres(c) => f.debug_tuple("Connection").field(&c.shown).finish(),
        }
    }
}

impl From<rusqlite::Connection> for Connection {
    fn from(conn: rusqlite::Connection) -> Self {
        Connection {
            engine: Conn::Sqlite(conn),
        }
    }
}

impl Connection {
    /// A connection over a PostgreSQL client; `shown` says where it is, for
    /// messages.
    pub fn postgres(client: postgres::Client, url: &super::postgres::IndexUrl) -> Connection {
        Connection {
            engine: Conn::Postgres(Box::new(PgConn {
                client: RefCell::new(Some(client)),
                prepared: RefCell::new(HashMap::new()),
                shown: url.shown().into(),
                url: url.clone(),
                in_transaction: Cell::new(false),
                pending: RefCell::new(String::new()),
                begin_unsent: Cell::new(None),
                failed: Cell::new(false),
                instance: uuid::Uuid::new_v4().simple().to_string().into(),
            })),
        }
    }

    /// On PostgreSQL, the id this connection's write transactions announce
    /// themselves with (`NOTIFY blockstore_changes`, see `db::ChangeWatch`).
    pub fn instance(&self) -> Option<&str> {
        match &self.engine {
            Conn::Sqlite(_) => None,
            Conn::Postgres(c) => Some(&c.instance),
        }
    }

    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        match self.engine {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (PRAGMAs, its
    /// integrity check); `None` on PostgreSQL.
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.engine {
            Conn::Sqlite(c) => Some(c),
            Conn::Postgres(_) => None,
        }
    }

    /// A statement, prepared once per connection and kept.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement(match &self.engine {
            Conn::Sqlite(c) => StmtInner::SqliteCached(c.prepare_cached(sql)?),
            Conn::Postgres(c) => StmtInner::Postgres(c, c.prepare(sql)?),
        }))
    }

    /// A statement prepared for this use only (SQL built at run time).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement(match &self.engine {
            Conn::Sqlite(c) => StmtInner::Sqlite(c.prepare(sql)?),
            Conn::Postgres(c) => StmtInner::Postgres(c, c.prepare(sql)?),
        }))
    }

    /// Runs one statement; returns how many rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// The first row of a query, through `f`; [`Error::NoRows`] if none.
    pub fn query_row<T, P: Params, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs a statement whose outcome nobody waits for, inside a
    /// transaction: on SQLite now; on PostgreSQL it is written out with its
    /// values as literals and goes with the transaction's next round trip
    /// (its `COMMIT`, when no statement follows), and a failure comes back
    /// from there. Statements run in the order they were given, so a later
    /// read sees it. The values go as text literals, which the server reads
    /// as the column's type: for text and number columns, not `BYTEA` or
    /// `BOOLEAN` ones (a bound value converts differently there).
    pub fn execute_later<P: Params>(&self, sql: &str, params: P) -> Result<()> {
        match &self.engine {
            Conn::Sqlite(_) => self.execute(sql, params).map(drop),
            Conn::Postgres(c) => {
                debug_assert!(
                    c.in_transaction.get(),
                    "execute_later outside a transaction"
                );
                c.defer(&render(sql, params.named())?);
                Ok(())
            }
        }
    }

    /// Runs statements separated by `;`, binding nothing.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.engine {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => c.batch(sql),
        }
    }

    /// Whether no transaction is open.
    pub fn is_autocommit(&self) -> bool {
        match &self.engine {
            Conn::Sqlite(c) => c.is_autocommit(),
            Conn::Postgres(c) => !c.in_transaction.get(),
        }
    }

    /// Starts a transaction; it rolls back when dropped uncommitted.
    pub fn transaction_with_behavior(
        &mut self,
        behavior: TransactionBehavior,
    ) -> Result<Transaction<'_>> {
        match &self.engine {
            Conn::Sqlite(c) => c.execute_batch(match behavior {
                TransactionBehavior::Immediate => "BEGIN IMMEDIATE",
            })?,
            Conn::Postgres(c) => {
                // A closed connection is replaced now, while no transaction
                // is open on it.
                c.revive()?;
                // Sent with the transaction's first statement. If the lock
                // fails, that statement fails and the transaction rolls back
                // at its end. The notice goes out when (and only if) the
                // transaction commits.
                debug_assert!(c.pending.borrow().is_empty());
                c.defer(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({WRITERS_LOCK}); \
                     NOTIFY {CHANGES_CHANNEL}, '{}'",
                    c.instance
                ));
                c.begin_unsent.set(Some(c.pending.borrow().len()));
                c.in_transaction.set(true);
            }
        }
        Ok(Transaction {
            conn: self,
            done: false,
            savepoints: 0,
        })
    }

    /// A read transaction on a shared connection: one snapshot for all its
    /// statements (SQLite's deferred transaction; PostgreSQL's repeatable
    /// read). The caller knows none is open on it.
    pub fn unchecked_transaction(&self) -> Result<Transaction<'_>> {
        match &self.engine {
            Conn::Sqlite(c) => c.execute_batch("BEGIN DEFERRED")?,
            Conn::Postgres(c) => {
                c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ")?;
                c.in_transaction.set(true);
            }
        }
        Ok(Transaction {
            conn: self,
            done: false,
            savepoints: 0,
        })
    }

    fn end(&self, sql: &str) -> Result<()> {
        match &self.engine {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => {
                // A statement failed and was not rolled back to a savepoint:
                // the server has aborted the transaction, and would answer
                // COMMIT with a silent ROLLBACK. Say so instead.
                let aborted = sql == "COMMIT" && c.failed.get();
                let unsent = c.begin_unsent.get();
                let done = if sql == "ROLLBACK" || aborted {
                    // What still waits would be undone with the rest.
                    c.pending.borrow_mut().clear();
                    c.begin_unsent.set(None);
                    match unsent {
                        // The server never saw the transaction.
                        Some(_) => Ok(()),
                        None => c.batch("ROLLBACK"),
                    }
                } else if unsent == Some(c.pending.borrow().len()) {
                    // Nothing but the BEGIN waits: no statement ran, and
                    // there is nothing to commit.
                    c.pending.borrow_mut().clear();
                    c.begin_unsent.set(None);
                    Ok(())
                } else {
                    // When a statement sent ahead of the COMMIT (one that
                    // waited) fails, the server skips the COMMIT and keeps
                    // the transaction open: `Transaction::commit` leaves it
                    // to its drop, whose ROLLBACK ends it.
                    c.batch("COMMIT")
                };
                // After COMMIT or ROLLBACK the server's transaction is over.
                c.in_transaction.set(false);
                c.failed.set(false);
                if aborted {
                    return Err(Error::Aborted);
                }
                done
            }
        }
    }
}

/// An open transaction: a [`Connection`] until it commits or is dropped.
pub struct Transaction<'c> {
    conn: &'c Connection,
    done: bool,
    /// Savepoints made so far: each gets a name of its own, so rolling
    /// back to one can never reach an earlier one whose `RELEASE` (sent
    /// later, with what waited) did not run.
    savepoints: u32,
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        let committed = self.conn.end("COMMIT");
        // SQLite keeps a transaction whose COMMIT failed (busy) open; the
        // drop below rolls it back then.
        self.done = committed.is_ok();
        committed
    }

    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.conn.end("ROLLBACK")
    }

    /// A savepoint inside this transaction: work that can be undone alone.
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        self.savepoints += 1;
        let name = format!("sp{}", self.savepoints);
        self.conn.execute_deferred(&format!("SAVEPOINT {name}"))?;
        Ok(Savepoint {
            conn: self.conn,
            done: false,
            name,
        })
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.end("ROLLBACK");
        }
    }
}

/// A savepoint: rolled back to (and released) when dropped uncommitted.
pub struct Savepoint<'c> {
    conn: &'c Connection,
    done: bool,
    name: String,
}

impl std::ops::Deref for Savepoint<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Savepoint<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn
            .execute_deferred(&format!("RELEASE {}", self.name))
    }

    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.conn.rollback_to_savepoint(&self.name)
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.rollback_to_savepoint(&self.name);
        }
    }
}

impl Connection {
    /// Runs `sql`, which changes only the transaction's state and cannot
    /// fail on its own (`SAVEPOINT`, `RELEASE`): on PostgreSQL it goes out
    /// with the next round trip, and an error it met comes back from there.
    fn execute_deferred(&self, sql: &str) -> Result<()> {
        match &self.engine {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => {
                c.defer(sql);
                Ok(())
            }
        }
    }

    /// Undoes the work since savepoint `name`; on PostgreSQL this also ends
    /// the aborted state a failed statement left the transaction in. When
    /// the savepoint was never made (what was sent ahead of it failed), it
    /// fails, and the transaction stays failed.
    fn rollback_to_savepoint(&self, name: &str) -> Result<()> {
        self.execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"))?;
        if let Conn::Postgres(c) = &self.engine {
            c.failed.set(false);
        }
        Ok(())
    }
}

/// A prepared statement.
pub struct Statement<'c>(StmtInner<'c>);

enum StmtInner<'c> {
    SqliteCached(rusqlite::CachedStatement<'c>),
    Sqlite(rusqlite::Statement<'c>),
    Postgres(&'c PgConn, Arc<Prepared>),
}

/// rusqlite's named parameters for ours.
fn sqlite_params<'p>(params: &'p [(&'p str, &'p dyn ToSql)]) -> Vec<(&'p str, ValueRef<'p>)> {
    params.iter().map(|(n, v)| (*n, v.to_sql())).collect()
}

fn sqlite_refs<'p>(
    values: &'p [(&'p str, ValueRef<'p>)],
) -> Vec<(&'p str, &'p dyn rusqlite::ToSql)> {
    values
        .iter()
        .map(|(n, v)| (*n, v as &dyn rusqlite::ToSql))
        .collect()
}

impl<'c> Statement<'c> {
    fn sqlite(&mut self) -> Option<&mut rusqlite::Statement<'c>> {
        match &mut self.0 {
            StmtInner::SqliteCached(s) => Some(s),
            StmtInner::Sqlite(s) => Some(s),
            StmtInner::Postgres(..) => None,
        }
    }

    /// Runs the statement; returns how many rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        if let StmtInner::Postgres(c, p) = &self.0 {
            return c.execute(p, params.named());
        }
        let values = sqlite_params(params.named());
        let stmt = self.sqlite().expect("a SQLite statement");
        Ok(stmt.execute(&*sqlite_refs(&values))?)
    }

    /// The first row, through `f`; [`Error::NoRows`] if none.
    pub fn query_row<T, P: Params, F>(&mut self, params: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(row) => f(&row),
            None => Err(Error::NoRows),
        }
    }

    /// The rows, each through `f`, as an iterator of results.
    pub fn query_map<T, P: Params, F>(&mut self, params: P, f: F) -> Result<MappedRows<'_, F>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(MappedRows {
            rows: self.query(params)?,
            f,
        })
    }

    /// The rows, one at a time ([`Rows::next`]).
    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>> {
        if let StmtInner::Postgres(c, p) = &self.0 {
            return Ok(Rows(RowsInner::Postgres(
                c.query(p, params.named())?.into_iter(),
                None,
            )));
        }
        let values = sqlite_params(params.named());
        let stmt = self.sqlite().expect("a SQLite statement");
        Ok(Rows(RowsInner::Sqlite(stmt.query(&*sqlite_refs(&values))?)))
    }
}

/// A query's rows.
pub struct Rows<'s>(RowsInner<'s>);

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    /// The rows not yet read, and the one last handed out.
    Postgres(std::vec::IntoIter<postgres::Row>, Option<postgres::Row>),
}

impl Rows<'_> {
    /// The next row, or `None` after the last.
    #[allow(clippy::should_implement_trait)] // it lends: each row borrows the rows
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.0 {
            RowsInner::Sqlite(rows) => Ok(rows.next()?.map(|r| Row(RowInner::Sqlite(r)))),
            RowsInner::Postgres(rest, current) => {
                *current = rest.next();
                Ok(current.as_ref().map(|r| Row(RowInner::Postgres(r))))
            }
        }
    }
}

/// A query's rows through a function: what [`Statement::query_map`] returns.
pub struct MappedRows<'s, F> {
    rows: Rows<'s>,
    f: F,
}

impl<T, F> Iterator for MappedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> Result<T>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match self.rows.next() {
            Ok(Some(row)) => Some((self.f)(&row)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/// Runs `f`, which blocks on the network, from wherever the store was
/// called. The `postgres` client drives its connection on a runtime of its
/// own, which cannot start inside another: on a server's worker thread
/// (cached reads run there) the thread first leaves its runtime
/// (`block_in_place`); on a single-threaded runtime, `f` runs on a thread
/// of its own.
pub(crate) fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        }),
        Err(_) => f(),
    }
}

/// A PostgreSQL connection and the statements prepared on it.
struct PgConn {
    /// `None` only while dropping.
    client: RefCell<Option<postgres::Client>>,
    /// Where it connects again when the server closed the connection.
    url: super::postgres::IndexUrl,
    /// By the model's SQL text.
    prepared: RefCell<HashMap<String, Arc<Prepared>>>,
    shown: Arc<str>,
    in_transaction: Cell<bool>,
    /// Statements held back to go out with the next round trip, in order:
    /// those that change only the transaction's state (`BEGIN`,
    /// `SAVEPOINT`, `RELEASE`) and those nobody waits on
    /// ([`Connection::execute_later`]). A write of one file then makes
    /// three round trips fewer.
    pending: RefCell<String>,
    /// The open transaction's `BEGIN` waits in `pending` (not yet sent), as
    /// its first this many bytes.
    begin_unsent: Cell<Option<usize>>,
    /// A statement of the open transaction failed (the server aborted it).
    failed: Cell<bool>,
    /// Random: what this connection's commits announce themselves as.
    instance: Arc<str>,
}

impl Drop for PgConn {
    /// Closing says goodbye to the server, which blocks too.
    fn drop(&mut self) {
        if let Some(client) = self.client.get_mut().take() {
            blocking(move || drop(client));
        }
    }
}

/// A statement prepared on the server, and the names its `$N` stand for.
struct Prepared {
    statement: postgres::Statement,
    names: Vec<String>,
}

impl PgConn {
    fn error(&self, source: postgres::Error) -> Error {
        if self.in_transaction.get() {
            self.failed.set(true);
        }
        Error::Postgres {
            shown: self.shown.clone(),
            source,
        }
    }

    /// Connects anew when the server closed the connection (a restart, a
    /// failover, an administrator ending the session) and no transaction
    /// was open on it: the statement that found it closed failed
    /// (`unavailable`, a 503); the next one runs on a new session. Inside
    /// a transaction nothing reconnects: the transaction is gone with the
    /// session, and it fails to its end.
    fn revive(&self) -> Result<()> {
        let mut client = self.client.borrow_mut();
        let closed = client.as_ref().is_some_and(postgres::Client::is_closed);
        if closed && !self.in_transaction.get() {
            let url = &self.url;
            let fresh = blocking(|| super::postgres::connect(url)).map_err(|e| match e {
                super::super::error::Error::Unavailable { detail, .. } => Error::Reconnect {
                    shown: self.shown.clone(),
                    detail,
                },
                other => Error::Reconnect {
                    shown: self.shown.clone(),
                    detail: other.to_string(),
                },
            })?;
            // Its prepared statements were the old session's.
            self.prepared.borrow_mut().clear();
            // Closing the old one blocks (and would panic on a server's
            // worker thread).
            if let Some(old) = client.replace(fresh) {
                blocking(move || drop(old));
            }
        }
        Ok(())
    }

    fn prepare(&self, sql: &str) -> Result<Arc<Prepared>> {
        self.revive()?;
        if let Some(p) = self.prepared.borrow().get(sql) {
            return Ok(p.clone());
        }
        let (text, names) = translate(sql);
        let mut client = self.client.borrow_mut();
        let client = client.as_mut().expect("an open connection");
        let statement = blocking(|| client.prepare(&text)).map_err(|e| match self.error(e) {
            // Which statement, when the server cannot even prepare it.
            Error::Postgres { shown, source } => Error::Postgres {
                shown: format!("{shown}, preparing {:?}", text.trim()).into(),
                source,
            },
            other => other,
        })?;
        let p = Arc::new(Prepared { statement, names });
        self.prepared
            .borrow_mut()
            .insert(sql.to_string(), p.clone());
        Ok(p)
    }

    fn bind<'p>(p: &Prepared, params: &'p [(&'p str, &'p dyn ToSql)]) -> Result<Vec<PgParam<'p>>> {
        p.names
            .iter()
            .map(|name| {
                params
                    .iter()
                    .find(|(n, _)| n.strip_prefix(':').unwrap_or(n) == name)
                    .map(|(_, v)| PgParam(v.to_sql()))
                    .ok_or_else(|| Error::MissingParameter(name.clone()))
            })
            .collect()
    }

    /// Holds `sql` back until the next round trip (see `pending`).
    fn defer(&self, sql: &str) {
        let mut pending = self.pending.borrow_mut();
        if !pending.is_empty() {
            pending.push_str("; ");
        }
        pending.push_str(sql);
    }

    /// Sends what was held back, before a statement that cannot carry it
    /// (a prepared one).
    fn flush(&self) -> Result<()> {
        if self.pending.borrow().is_empty() {
            return Ok(());
        }
        self.batch("")
    }

    fn execute(&self, p: &Prepared, params: &[(&str, &dyn ToSql)]) -> Result<usize> {
        self.flush()?;
        let values = PgConn::bind(p, params)?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let mut client = self.client.borrow_mut();
        let client = client.as_mut().expect("an open connection");
        let n = blocking(|| client.execute(&p.statement, &refs)).map_err(|e| self.error(e))?;
        Ok(n as usize)
    }

    fn query(&self, p: &Prepared, params: &[(&str, &dyn ToSql)]) -> Result<Vec<postgres::Row>> {
        self.flush()?;
        let values = PgConn::bind(p, params)?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let mut client = self.client.borrow_mut();
        let client = client.as_mut().expect("an open connection");
        blocking(|| client.query(&p.statement, &refs)).map_err(|e| self.error(e))
    }

    /// Runs `sql` (statements separated by `;`), after what was held back,
    /// in one round trip.
    fn batch(&self, sql: &str) -> Result<()> {
        self.revive()?;
        let mut text = std::mem::take(&mut *self.pending.borrow_mut());
        self.begin_unsent.set(None);
        if !sql.is_empty() {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(sql);
        }
        let mut client = self.client.borrow_mut();
        let client = client.as_mut().expect("an open connection");
        blocking(|| client.batch_execute(&text)).map_err(|e| self.error(e))
    }
}

/// The model's SQL in PostgreSQL's placeholders: `:name` and `?N` become
/// `$N` (one number per distinct name), outside quotes and comments, and
/// never PostgreSQL's own `::type` casts. Returns the text and the names in
/// `$N` order (`?N` counts as the name `N`).
fn translate(sql: &str) -> (String, Vec<String>) {
    rewrite(sql, |n, _| format!("${n}"))
}

/// The model's SQL as PostgreSQL runs it as simple-query text, each
/// parameter written in as a literal: how a statement whose answer nobody
/// waits for joins a batch (see [`Connection::execute_later`]).
fn render(sql: &str, params: &[(&str, &dyn ToSql)]) -> Result<String> {
    let mut failed = None;
    let (text, _) = rewrite(sql, |_, name| {
        let value = params
            .iter()
            .find(|(n, _)| n.strip_prefix(':').unwrap_or(n) == name)
            .map(|(_, v)| v.to_sql());
        match value
            .ok_or_else(|| Error::MissingParameter(name.to_string()))
            .and_then(literal)
        {
            Ok(literal) => literal,
            Err(e) => {
                failed.get_or_insert(e);
                String::new()
            }
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(text),
    }
}

/// A value as a PostgreSQL literal: `NULL`, or an escaped string constant
/// (`E'…'`, whatever `standard_conforming_strings` says) of unknown type,
/// which the server reads as the type the statement needs there, as it
/// does a bound parameter.
fn literal(value: ValueRef<'_>) -> Result<String> {
    let text = match value {
        ValueRef::Null => return Ok("NULL".into()),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) if f.is_finite() => format!("{f:?}"),
        ValueRef::Real(f) => f.to_string(), // NaN, inf, -inf: PostgreSQL's spellings
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(t) if !t.contains('\0') => t.to_string(),
            _ => {
                return Err(Error::Conversion {
                    column: 0,
                    message: "text that is not UTF-8 or holds a NUL cannot be a literal".into(),
                })
            }
        },
        ValueRef::Blob(b) => {
            let mut hex = String::with_capacity(2 + 2 * b.len());
            // `E'\\x…'`: the backslash escaped, as bytea's hex input wants one.
            hex.push_str("\\\\x");
            for byte in b {
                hex.push_str(&format!("{byte:02x}"));
            }
            return Ok(format!("E'{hex}'"));
        }
    };
    Ok(format!(
        "E'{}'",
        text.replace('\\', "\\\\").replace('\'', "''")
    ))
}

/// `sql` with SQLite's hints dropped, `json_each` spelled as PostgreSQL
/// does, and each placeholder (`:name`, `?N`) replaced by what
/// `placeholder` makes of its number (one per distinct name, from 1) and
/// name; and the names in number order.
fn rewrite(sql: &str, mut placeholder: impl FnMut(usize, &str) -> String) -> (String, Vec<String>) {
    let hintless = drop_index_hints(sql);
    let sql = &json_each(&hintless);
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' | b'"' => {
                let end = bytes[i + 1..]
                    .iter()
                    .position(|&c| c == b)
                    .map_or(bytes.len(), |p| i + 1 + p + 1);
                out.push_str(&sql[i..end]);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| i + p);
                out.push_str(&sql[i..end]);
                i = end;
            }
            b':' if bytes.get(i + 1) == Some(&b':') => {
                out.push_str("::");
                i += 2;
            }
            b':' | b'?'
                if bytes
                    .get(i + 1)
                    .is_some_and(|&c| ident(c) && (b == b':' || c.is_ascii_digit())) =>
            {
                let start = i + 1;
                let end = bytes[start..]
                    .iter()
                    .position(|&c| !ident(c))
                    .map_or(bytes.len(), |p| start + p);
                let name = &sql[start..end];
                let n = match names.iter().position(|n| n == name) {
                    Some(n) => n,
                    None => {
                        names.push(name.to_string());
                        names.len() - 1
                    }
                };
                out.push_str(&placeholder(n + 1, name));
                i = end;
            }
            _ => {
                let next = sql[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&sql[i..i + next]);
                i += next;
            }
        }
    }
    (out, names)
}

/// The SQL without SQLite's `INDEXED BY name` hints.
fn drop_index_hints(sql: &str) -> std::borrow::Cow<'_, str> {
    const HINT: &str = " INDEXED BY ";
    if !sql.contains(HINT) {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(HINT) {
        out.push_str(&rest[..at]);
        let after = &rest[at + HINT.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out.into()
}

/// SQLite's `json_each(:param)`, whose rows' `value` is each element of a
/// JSON array, as PostgreSQL says it.
fn json_each(sql: &str) -> std::borrow::Cow<'_, str> {
    const CALL: &str = "json_each(";
    if !sql.contains(CALL) {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(at) = rest.find(CALL) {
        out.push_str(&rest[..at]);
        let after = &rest[at + CALL.len()..];
        let Some(close) = after.find(')') else {
            out.push_str(&rest[at..]);
            return out.into();
        };
        out.push_str(&format!(
            "json_array_elements_text(CAST({} AS json)) AS value",
            &after[..close]
        ));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.into()
}

/// A bound value, written as the server asks for it.
#[derive(Debug)]
struct PgParam<'a>(ValueRef<'a>);

impl postgres::types::ToSql for PgParam<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use bytes::BufMut;
        use postgres::types::{IsNull, Type};
        let text = |t: &Type| {
            matches!(
                *t,
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON
            )
        };
        match self.0 {
            ValueRef::Null => return Ok(IsNull::Yes),
            ValueRef::Integer(i) => match *ty {
                Type::INT8 => out.put_i64(i),
                Type::INT4 => out.put_i32(i32::try_from(i)?),
                Type::INT2 => out.put_i16(i16::try_from(i)?),
                Type::BOOL => out.put_u8(u8::from(i != 0)),
                Type::FLOAT8 => out.put_f64(i as f64),
                Type::FLOAT4 => out.put_f32(i as f32),
                ref t if text(t) => out.put_slice(i.to_string().as_bytes()),
                ref t => return Err(format!("cannot bind an integer to a {t} parameter").into()),
            },
            ValueRef::Real(f) => match *ty {
                Type::FLOAT8 => out.put_f64(f),
                Type::FLOAT4 => out.put_f32(f as f32),
                ref t if text(t) => out.put_slice(f.to_string().as_bytes()),
                ref t => return Err(format!("cannot bind a real to a {t} parameter").into()),
            },
            ValueRef::Text(t) => match *ty {
                Type::BYTEA => out.put_slice(t),
                Type::JSONB => {
                    out.put_u8(1);
                    out.put_slice(t);
                }
                ref ty if text(ty) => out.put_slice(t),
                Type::INT8 | Type::INT4 | Type::INT2 => {
                    return Err(format!(
                        "cannot bind text {:?} to a {ty} parameter",
                        String::from_utf8_lossy(t)
                    )
                    .into())
                }
                ref ty => return Err(format!("cannot bind text to a {ty} parameter").into()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => out.put_slice(b),
                ref ty if text(ty) => out.put_slice(std::str::from_utf8(b)?.as_bytes()),
                ref ty => return Err(format!("cannot bind a blob to a {ty} parameter").into()),
            },
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column read as one of SQLite's storage classes.
struct PgValue<'a>(ValueRef<'a>);

impl<'a> postgres::types::FromSql<'a> for PgValue<'a> {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        let be = |n: usize| -> std::result::Result<[u8; 8], String> {
            if raw.len() != n {
                return Err(format!("a {ty} of {} bytes", raw.len()));
            }
            let mut b = [0u8; 8];
            b[8 - n..].copy_from_slice(raw);
            Ok(b)
        };
        Ok(PgValue(match *ty {
            Type::INT8 => ValueRef::Integer(i64::from_be_bytes(be(8)?)),
            Type::INT4 => ValueRef::Integer(i32::from_be_bytes(raw.try_into()?).into()),
            Type::INT2 => ValueRef::Integer(i16::from_be_bytes(raw.try_into()?).into()),
            Type::OID => ValueRef::Integer(u32::from_be_bytes(raw.try_into()?).into()),
            Type::BOOL => ValueRef::Integer(i64::from(raw.first().copied().unwrap_or(0) != 0)),
            Type::FLOAT8 => ValueRef::Real(f64::from_be_bytes(raw.try_into()?)),
            Type::FLOAT4 => ValueRef::Real(f32::from_be_bytes(raw.try_into()?).into()),
            Type::BYTEA => ValueRef::Blob(raw),
            Type::JSONB => ValueRef::Text(raw.get(1..).unwrap_or_default()),
            Type::NUMERIC => numeric(raw)?,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                ValueRef::Text(raw)
            }
            ref t => return Err(format!("cannot read a column of type {t}").into()),
        }))
    }

    fn from_sql_null(
        _: &postgres::types::Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgValue(ValueRef::Null))
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
}

/// A `NUMERIC` (what `sum` of integers gives): an integer when it has no
/// fraction and fits, else a real.
fn numeric(raw: &[u8]) -> std::result::Result<ValueRef<'static>, String> {
    let word = |i: usize| -> std::result::Result<u16, String> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated numeric".to_string())
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16;
    let sign = word(4)?;
    let dscale = word(6)?;
    if sign == 0xC000 {
        return Ok(ValueRef::Real(f64::NAN));
    }
    let mut int: i128 = 0;
    let mut real = 0f64;
    let mut fraction = false;
    for d in 0..ndigits {
        let digit = word(8 + 2 * d)?;
        let power = weight as i32 - d as i32;
        real += f64::from(digit) * 10000f64.powi(power);
        if power < 0 {
            fraction |= digit != 0;
        } else {
            int = int.saturating_add(i128::from(digit) * 10000i128.saturating_pow(power as u32));
        }
    }
    let negative = sign == 0x4000;
    if dscale == 0 && !fraction {
        let int = if negative { -int } else { int };
        if let Ok(i) = i64::try_from(int) {
            return Ok(ValueRef::Integer(i));
        }
    }
    Ok(ValueRef::Real(if negative { -real } else { real }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_escaped_literals_and_what_cannot_be_one_is_refused() {
        let text = |t: &str| literal(ValueRef::Text(t.as_bytes())).unwrap();
        assert_eq!(
            text("2026-12-04T14:45:00.123456Z"),
            "E'2026-12-04T14:45:00.123456Z'"
        );
        assert_eq!(text(r"O'Brien \ 'x'"), r"E'O''Brien \\ ''x'''");
        assert_eq!(literal(ValueRef::Integer(-42)).unwrap(), "E'-42'");
        assert_eq!(literal(ValueRef::Real(1.5)).unwrap(), "E'1.5'");
        assert_eq!(literal(ValueRef::Null).unwrap(), "NULL");
        assert_eq!(
            literal(ValueRef::Blob(&[0xde, 0xad, 0x00])).unwrap(),
            r"E'\\xdead00'"
        );
        assert!(literal(ValueRef::Text(b"a\0b")).is_err());
        assert!(literal(ValueRef::Text(b"\xff")).is_err());
        let sql = render(
            "UPDATE t SET a = :a, b = ?2 WHERE c = ':a' AND d = :a",
            &[(":a", &"x'y" as &dyn ToSql), ("2", &7i64)],
        )
        .unwrap();
        assert_eq!(
            sql,
            "UPDATE t SET a = E'x''y', b = E'7' WHERE c = ':a' AND d = E'x''y'"
        );
        assert!(matches!(
            render("SELECT :missing", &[]),
            Err(Error::MissingParameter(name)) if name == "missing"
        ));
    }

    #[test]
    fn placeholders_become_numbered_outside_quotes_comments_and_casts() {
        let (text, names) = translate(
            "SELECT ':no', \"a:b\", x::text FROM t -- :nor\n WHERE a = :key OR b = :key AND c = ?2 AND d = :other_1",
        );
        assert_eq!(
            text,
            "SELECT ':no', \"a:b\", x::text FROM t -- :nor\n WHERE a = $1 OR b = $1 AND c = $2 AND d = $3"
        );
        assert_eq!(names, ["key", "2", "other_1"]);
        let (text, _) = translate("SELECT v.path FROM version v INDEXED BY version_hash JOIN x");
        assert_eq!(text, "SELECT v.path FROM version v JOIN x");
        let (text, names) = translate("SELECT 1 WHERE p IN (SELECT value FROM json_each(:paths))");
        assert_eq!(
            text,
            "SELECT 1 WHERE p IN (SELECT value FROM json_array_elements_text(CAST($1 AS json)) AS value)"
        );
        assert_eq!(names, ["paths"]);
    }

    #[test]
    fn sqlite_rows_read_through_the_common_api() {
        let mut conn = Connection::from(rusqlite::Connection::open_in_memory().unwrap());
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
            .unwrap();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let id: i64 = tx
            .query_row(
                "INSERT INTO t (name, data) VALUES (:name, :data) RETURNING id",
                named_params! {":name": "a", ":data": vec![1u8, 2]},
                |r| r.get(0),
            )
            .unwrap();
        tx.commit().unwrap();
        let (name, data, none): (String, Vec<u8>, Option<i64>) = conn
            .query_row(
                "SELECT name, data, NULL FROM t WHERE id = :id",
                named_params! {":id": id},
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((name.as_str(), data, none), ("a", vec![1, 2], None));
        let missing = conn
            .query_row("SELECT id FROM t WHERE id = 99", [], |r| r.get::<_, i64>(0))
            .optional()
            .unwrap();
        assert_eq!(missing, None);
        {
            let tx = conn.unchecked_transaction().unwrap();
            tx.execute("DELETE FROM t", []).unwrap();
        } // dropped: rolled back
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn numerics_read_as_integers_when_whole() {
        // 123456789 = digits [1, 2345, 6789], weight 2, scale 0.
        let raw = [0, 3, 0, 2, 0, 0, 0, 0, 0, 1, 0x09, 0x29, 0x1A, 0x85];
        assert_eq!(numeric(&raw).unwrap(), ValueRef::Integer(123_456_789));
        // -1.5 = digits [1, 5000], weight 0, scale 1.
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(numeric(&raw).unwrap(), ValueRef::Real(-1.5));
    }
}
