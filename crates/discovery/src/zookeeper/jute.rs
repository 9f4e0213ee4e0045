//! The subset of ZooKeeper's jute wire format the client (and the tests' fake server) speak.
//!
//! Every message is a frame: a big-endian `i32` length, then the record. Integers are
//! big-endian, a string or buffer is an `i32` length (-1: null) and its bytes, a vector an
//! `i32` count (-1: null) and its items, a bool one byte.

use bytes::{BufMut, Bytes, BytesMut};

/// `getData` (path, watch) -> (data, stat).
pub(super) const OP_GET_DATA: i32 = 4;
/// `ping`, sent with [`XID_PING`].
pub(super) const OP_PING: i32 = 11;
/// `getChildren2` (path, watch) -> (children, stat).
pub(super) const OP_GET_CHILDREN2: i32 = 12;
/// `setWatches` (relative zxid, data, exist and child watch paths), sent after reconnecting.
pub(super) const OP_SET_WATCHES: i32 = 101;
/// `closeSession`.
pub(super) const OP_CLOSE: i32 = -11;

/// The xid of watch notifications.
pub(super) const XID_WATCH: i32 = -1;
/// The xid of pings and their replies.
pub(super) const XID_PING: i32 = -2;

/// ZooKeeper's `ZNONODE`.
pub(super) const ERR_NO_NODE: i32 = -101;

/// Watch notification types (`Watcher.Event.EventType`).
pub(super) const EVENT_NODE_CREATED: i32 = 1;
pub(super) const EVENT_NODE_DELETED: i32 = 2;
pub(super) const EVENT_NODE_DATA_CHANGED: i32 = 3;
pub(super) const EVENT_NODE_CHILDREN_CHANGED: i32 = 4;

/// `KeeperState.SyncConnected`, the state of the fake server's watch notifications.
#[cfg(test)]
pub(super) const STATE_SYNC_CONNECTED: i32 = 3;

/// The largest frame accepted (ZooKeeper's own default `jute.maxbuffer` is 1 MiB of data).
pub(super) const MAX_FRAME: usize = 16 << 20;

/// The length of a serialized `Stat`.
pub(super) const STAT_LEN: usize = 68;

/// Builds one frame; [`Writer::finish`] fills in its length.
pub(super) struct Writer(BytesMut);

impl Writer {
    pub(super) fn new() -> Writer {
        let mut b = BytesMut::with_capacity(64);
        b.put_i32(0);
        Writer(b)
    }

    pub(super) fn i32(mut self, v: i32) -> Writer {
        self.0.put_i32(v);
        self
    }

    pub(super) fn i64(mut self, v: i64) -> Writer {
        self.0.put_i64(v);
        self
    }

    pub(super) fn bool(mut self, v: bool) -> Writer {
        self.0.put_u8(u8::from(v));
        self
    }

    pub(super) fn buffer(mut self, v: &[u8]) -> Writer {
        self.0.put_i32(i32::try_from(v.len()).unwrap_or(i32::MAX));
        self.0.put_slice(v);
        self
    }

    pub(super) fn string(self, v: &str) -> Writer {
        self.buffer(v.as_bytes())
    }

    pub(super) fn strings(mut self, v: &[String]) -> Writer {
        self.0.put_i32(i32::try_from(v.len()).unwrap_or(i32::MAX));
        for s in v {
            self = self.string(s);
        }
        self
    }

    /// Raw bytes (a `Stat`, for instance).
    #[cfg(test)]
    pub(super) fn raw(mut self, v: &[u8]) -> Writer {
        self.0.put_slice(v);
        self
    }

    /// The frame, length prefix included.
    pub(super) fn finish(mut self) -> Bytes {
        let len = i32::try_from(self.0.len() - 4).unwrap_or(i32::MAX);
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        self.0.freeze()
    }
}

/// Reads the fields of one frame (without its length prefix).
pub(super) struct Reader<'a>(&'a [u8]);

/// A frame shorter than its fields say, or a negative length where none is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Malformed;

impl<'a> Reader<'a> {
    pub(super) fn new(b: &'a [u8]) -> Reader<'a> {
        Reader(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(super) fn i32(&mut self) -> Result<i32, Malformed> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn i64(&mut self) -> Result<i64, Malformed> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    #[cfg(test)]
    pub(super) fn bool(&mut self) -> Result<bool, Malformed> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A buffer; null reads as empty.
    pub(super) fn buffer(&mut self) -> Result<Vec<u8>, Malformed> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .take(usize::try_from(n).map_err(|_| Malformed)?)?
            .to_vec())
    }

    /// A string (invalid UTF-8 replaced); null reads as empty.
    pub(super) fn string(&mut self) -> Result<String, Malformed> {
        Ok(String::from_utf8_lossy(&self.buffer()?).into_owned())
    }

    /// A vector of strings; null reads as empty.
    pub(super) fn strings(&mut self) -> Result<Vec<String>, Malformed> {
        let n = self.i32()?;
        let n = usize::try_from(n).unwrap_or(0);
        // Each string takes at least its 4-byte length: a count beyond that is garbage.
        if n > self.0.len() / 4 {
            return Err(Malformed);
        }
        (0..n).map(|_| self.string()).collect()
    }

    /// Skips `n` bytes (a `Stat`).
    pub(super) fn skip(&mut self, n: usize) -> Result<(), Malformed> {
        self.take(n).map(|_| ())
    }
}

/// Reads one frame from `stream`, buffering in `buf` (cancel-safe: a dropped call loses
/// nothing, the bytes read so far stay in `buf`).
pub(super) async fn read_frame<S>(stream: &mut S, buf: &mut BytesMut) -> std::io::Result<Bytes>
where
    S: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    loop {
        if buf.len() >= 4 {
            let n = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n <= MAX_FRAME)
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("invalid frame length {n}"),
                    )
                })?;
            if buf.len() >= 4 + n {
                let _ = buf.split_to(4);
                return Ok(buf.split_to(n).freeze());
            }
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}
