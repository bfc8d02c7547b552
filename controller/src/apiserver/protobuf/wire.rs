//! The protobuf wire format: field keys, varints and length-delimited runs.

use super::ProtobufError;

/// Protobuf wire types (groups, 3 and 4, are not used by Kubernetes and are rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// A cursor over one message's bytes.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// The next field's number and wire type, or `None` at the end of the message.
    pub(super) fn key(&mut self) -> Result<Option<(u32, Wire)>, ProtobufError> {
        if self.pos == self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint,
            1 => Wire::Fixed64,
            2 => Wire::Len,
            5 => Wire::Fixed32,
            other => {
                return Err(ProtobufError::malformed(format!(
                    "unsupported wire type {other} at byte {}",
                    self.pos
                )));
            }
        };
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                ProtobufError::malformed(format!("invalid field number at byte {}", self.pos))
            })?;
        Ok(Some((number, wire)))
    }

    pub(super) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos).ok_or_else(|| {
                ProtobufError::malformed("truncated: the body ends inside a varint")
            })?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::malformed("a varint is longer than 10 bytes"))
    }

    pub(super) fn take(&mut self, len: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                ProtobufError::malformed(format!(
                    "truncated: {len} bytes announced at byte {} but only {} remain",
                    self.pos,
                    self.bytes.len() - self.pos
                ))
            })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| {
            ProtobufError::malformed(format!("a length of {len} bytes is too large"))
        })?;
        self.take(len)
    }

    pub(super) fn string(&mut self) -> Result<String, ProtobufError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ProtobufError::malformed("a string is not valid UTF-8"))
    }

    /// Whether the whole message has been read.
    pub(super) fn is_done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    pub(super) fn skip(&mut self, wire: Wire) -> Result<(), ProtobufError> {
        match wire {
            Wire::Varint => self.varint().map(drop),
            Wire::Fixed64 => self.take(8).map(drop),
            Wire::Fixed32 => self.take(4).map(drop),
            Wire::Len => self.bytes().map(drop),
        }
    }
}
