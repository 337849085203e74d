//! The server's own parsers of untrusted text, for the fuzz targets (the
//! JSON bodies themselves go through serde into typed, bounded structures).

/// Feeds `data` to every parser of text that peers, customers or
/// administrators send; none may panic.
pub fn text_inputs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::ws::inspect(text);
    let _ = crate::password::strength(text);
    let _ = crate::store::check_text("field", text, 200);
    let _ = crate::api::auth::normalise_email(text);
    let ranges: Vec<String> = text.split(',').map(str::to_owned).collect();
    if let Ok(parsed) = crate::ipfilter::parse_ranges(&ranges) {
        let stored = crate::ipfilter::join(&parsed);
        assert_eq!(
            crate::ipfilter::split(&stored),
            parsed,
            "ranges survive storage"
        );
        for addr in ["192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1"] {
            if let Ok(a) = addr.parse() {
                let _ = crate::ipfilter::allows(crate::ipfilter::IpMode::DenyAllExcept, &parsed, a);
            }
        }
    }
    let _ = crate::ipfilter::split(text);
}
