//! Short texts assembled on the stack, for the numbers and addresses the JSON log and
//! the traces print several times per event.

/// Up to `N` bytes of ASCII text. Pushing past `N` is a bug of the caller, which sizes
/// `N` for its longest text; the excess is dropped rather than panicking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StackText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub(crate) fn new() -> StackText<N> {
        StackText { bytes: [0; N], len: 0 }
    }

    /// Appends ASCII bytes.
    pub(crate) fn push(&mut self, ascii: &[u8]) {
        if let Some(slot) = self.bytes.get_mut(self.len..self.len + ascii.len()) {
            slot.copy_from_slice(ascii);
            self.len += ascii.len();
        }
    }

    /// Appends a number in decimal.
    pub(crate) fn push_u64(&mut self, value: u64) {
        self.push(itoa::Buffer::new().format(value).as_bytes());
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}
