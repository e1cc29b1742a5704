//! How `produce` reads and `consume` writes record values on a text
//! stream: as text, or as base64 or hex for bytes that are not text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `--value-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ValueFormat {
    /// The line is the value (UTF-8).
    #[default]
    Text,
    /// The line is the value in standard, padded base64.
    Base64,
    /// The line is the value in hexadecimal (two digits per byte).
    Hex,
}

impl ValueFormat {
    /// The bytes `text` stands for.
    ///
    /// # Errors
    /// `text` is not valid base64 or hex.
    pub fn decode(self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            ValueFormat::Text => Ok(text.as_bytes().to_vec()),
            ValueFormat::Base64 => STANDARD
                .decode(text.trim())
                .map_err(|e| format!("not base64: {e}")),
            ValueFormat::Hex => {
                let text = text.trim();
                if !text.len().is_multiple_of(2) {
                    return Err("not hex: an odd number of digits".to_owned());
                }
                (0..text.len())
                    .step_by(2)
                    .map(|i| {
                        text.get(i..i + 2)
                            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                            .ok_or_else(|| format!("not hex: {:?} at {i}", &text[i..]))
                    })
                    .collect()
            }
        }
    }

    /// `bytes` written in this format (text shows invalid UTF-8 as U+FFFD).
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            ValueFormat::Text => String::from_utf8_lossy(bytes).into_owned(),
            ValueFormat::Base64 => STANDARD.encode(bytes),
            ValueFormat::Hex => hex(bytes),
        }
    }
}

/// Lower-case hexadecimal, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips_arbitrary_bytes() {
        let bytes: Vec<u8> = (0..=255).collect();
        for f in [ValueFormat::Base64, ValueFormat::Hex] {
            assert_eq!(f.decode(&f.encode(&bytes)).unwrap(), bytes, "{f:?}");
        }
        assert_eq!(ValueFormat::Hex.encode(b"\x00\xff"), "00ff");
        assert_eq!(ValueFormat::Base64.encode(b"hi"), "aGk=");
    }

    #[test]
    fn malformed_input_is_refused() {
        assert!(ValueFormat::Hex.decode("abc").is_err());
        assert!(ValueFormat::Hex.decode("zz").is_err());
        assert!(ValueFormat::Hex.decode("é0").is_err());
        assert!(ValueFormat::Base64.decode("a$==").is_err());
    }
}
