//! The two-factor enrolment page's view of a TOTP secret: the label an authenticator app
//! shows for this server, the `otpauth://` link, and its QR code drawn on the server. The
//! credentials and their checks are the registry's (`accounts/totp.rs`,
//! `registry/twofactor.rs`).

use crate::Error;
use crate::accounts::totp::{DEFAULT_ISSUER, otpauth_uri};

/// The issuer an authenticator app shows for this server: the host of its public URL
/// (`nuget.contoso.com`), so that accounts on two servers can be told apart. A port is left
/// out: the otpauth label separates issuer and account with a colon, so an issuer cannot hold
/// one (Key Uri Format).
pub(crate) fn issuer_for(public_url: &str) -> String {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    if host.is_empty() || host.contains(':') {
        DEFAULT_ISSUER.to_owned()
    } else {
        host.to_owned()
    }
}

/// What the enrolment page shows.
#[derive(Clone, Debug)]
pub(crate) struct Enrolment {
    /// The secret, base32 (typed into an authenticator by hand).
    pub(crate) secret: String,
    /// The `otpauth://totp/…` URI (a link, and what the QR code carries).
    pub(crate) uri: String,
    /// The URI as a QR code: an inline SVG drawn on the server (the pages run no scripts).
    pub(crate) qr_svg: String,
}

/// The enrolment view of a stored secret, for the server whose authenticator label is
/// `issuer` ([`issuer_for`]).
pub(crate) fn enrolment(secret_b32: &str, account: &str, issuer: &str) -> Result<Enrolment, Error> {
    let uri = otpauth_uri(secret_b32, account, issuer)?;
    Ok(Enrolment {
        secret: secret_b32.to_owned(),
        qr_svg: qr_svg(&uri)?,
        uri,
    })
}

/// Modules of quiet zone around a QR code (ISO/IEC 18004 asks for four).
const QUIET_ZONE: usize = 4;

/// `text` as a QR code in an SVG element: one path of unit squares on a white square, with a
/// quiet zone, scaled by CSS. Medium error correction (the URI is ~120 bytes: a 33×33 to
/// 37×37 symbol that phone cameras read at once).
fn qr_svg(text: &str) -> Result<String, Error> {
    use std::fmt::Write as _;
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| Error::Crypto(format!("QR code: {e}")))?;
    let width = code.width();
    let size = width + 2 * QUIET_ZONE;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % width + QUIET_ZONE, i / width + QUIET_ZONE);
            let _ = write!(path, "M{x} {y}h1v1h-1z");
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\" class=\"qr\" id=\"totp-qr\" role=\"img\" \
         aria-label=\"QR code of the authenticator link\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn enrolment_shows_the_uri_and_its_qr_code() {
        // RFC 6238 appendix B's secret, "12345678901234567890", in base32.
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        let e = enrolment(secret, "alice", "nuget.contoso.com").unwrap();
        assert_eq!(e.secret, secret);
        assert!(
            e.uri.starts_with("otpauth://totp/nuget.contoso.com:alice?"),
            "{}",
            e.uri
        );
        assert!(e.uri.contains("issuer=nuget.contoso.com"), "{}", e.uri);
        assert!(e.qr_svg.starts_with("<svg ") && e.qr_svg.contains("<path "));
    }

    #[test]
    fn issuer_is_the_public_host() {
        for (url, issuer) in [
            ("https://nuget.contoso.com", "nuget.contoso.com"),
            ("http://127.0.0.1:5000", "127.0.0.1"),
            ("https://feed.example:8443/base/", "feed.example"),
            ("http://[::1]:5000", "signet"),
            ("", "signet"),
        ] {
            assert_eq!(issuer_for(url), issuer, "{url}");
        }
    }
}
