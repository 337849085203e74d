//! Text from the other side is hostile wherever it is shown: a name, a
//! chat line, a file name may carry terminal escapes, bidirectional
//! overrides that turn `gpj.exe` into `exe.jpg`, or zero-width characters.

/// Text from the network, made safe to print on a terminal: control,
/// bidirectional override and zero-width characters are dropped, and at
/// most 4096 characters kept.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(*c as u32,
                    0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069 | 0xFEFF)
        })
        .take(4096)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_neutralised() {
        assert_eq!(
            sanitize("ok\u{1b}[2J\u{202e}txt.exe\u{200b}"),
            "ok[2Jtxt.exe"
        );
        assert_eq!(sanitize("Grüße"), "Grüße");
    }
}
