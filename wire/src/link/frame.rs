//! Length-prefixed postcard frames: a big-endian `u32` byte count, then the postcard encoding.
//!
//! Every decoding failure (a short read, a length over the limit, bytes that are not a valid
//! message) is a [`FrameError`]; nothing here panics on what a peer sends.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame either side accepts. A full desired-state snapshot of a node running its
/// maximum of pods with ConfigMaps and Secrets inlined stays well below this.
pub const MAX_FRAME_BYTES: u32 = 64 << 20;

/// Errors of reading or writing frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_BYTES} bytes")]
    TooLarge(u64),
    #[error("the stream ended in the middle of a frame")]
    Truncated,
    #[error("the stream ended")]
    Closed,
    #[error("malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("link i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes `message` as one frame (length prefix included).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = postcard::to_extend(message, vec![0u8; 4])?;
    let len = out.len() - 4;
    if len > MAX_FRAME_BYTES as usize {
        return Err(FrameError::TooLarge(len as u64));
    }
    out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Decodes one whole frame (length prefix included); trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, FrameError> {
    let Some((prefix, body)) = frame.split_first_chunk::<4>() else {
        return Err(FrameError::Truncated);
    };
    let len = u32::from_be_bytes(*prefix);
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len.into()));
    }
    if body.len() < len as usize {
        return Err(FrameError::Truncated);
    }
    if body.len() > len as usize {
        return Err(FrameError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ));
    }
    decode_body(body)
}

fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (message, rest) = postcard::take_from_bytes(body)?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ));
    }
    Ok(message)
}

/// Reads one frame. A stream that ends cleanly before the first byte gives
/// [`FrameError::Closed`]; one that ends inside a frame gives [`FrameError::Truncated`].
pub async fn read_frame<T, R>(reader: &mut R) -> Result<T, FrameError>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        let n = reader.read(&mut prefix[got..]).await?;
        if n == 0 {
            return Err(if got == 0 {
                FrameError::Closed
            } else {
                FrameError::Truncated
            });
        }
        got += n;
    }
    let len = u32::from_be_bytes(prefix);
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len.into()));
    }
    let mut body = vec![0u8; len as usize];
    reader.read_exact(&mut body).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    })?;
    decode_body(&body)
}

/// Writes one frame.
pub async fn write_frame<T, W>(writer: &mut W, message: &T) -> Result<(), FrameError>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
{
    let frame = encode(message)?;
    writer.write_all(&frame).await?;
    Ok(())
}

#[cfg(test)]
#[path = "frame_test.rs"]
mod tests;
