//! How every PostgreSQL connection of passerelle is opened: the URL's settings and its TLS
//! set-up, in one place for the storage's worker and lock connections, the test helper and
//! the server's cluster connections ([`postgres_config`]).
//!
//! The URL says what to do, with libpq's parameters (in the `postgres://…?…` query or the
//! `key=value` form):
//!
//! | `sslmode=` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default) | when the server offers it | not verified (as libpq) |
//! | `require` | always | verified: chain and host name (libpq's `require` verifies nothing) |
//! | `verify-full` | always | verified: chain and host name (as `require`) |
//! | `verify-ca` | always | chain only, any host name |
//!
//! The certificate chain must lead to a CA of `sslrootcert=/path/ca.pem` (PEM, one or more
//! certificates) when given, else to one of Mozilla's roots (`webpki-roots`, as the
//! federation client). tokio-postgres knows neither `sslrootcert` nor the `verify-*` modes:
//! they are taken out of the URL before it parses the rest. TLS is rustls with the *ring*
//! provider, the one the workspace already builds for reqwest.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::Socket;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StorageError;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Nothing (`prefer`, as libpq): TLS then only keeps passive listeners out.
    Nothing,
    /// The chain, not the host name (`verify-ca`).
    Chain,
    /// The chain and the host name (`require`, `verify-full`).
    Full,
}

/// The TLS side of a connection: a [`MakeTlsConnect`] for tokio-postgres and the `postgres`
/// crate, or why there is none (a CA file that cannot be read), which then fails every
/// connection with that reason. [`PostgresTls::problem`] tells it before connecting.
#[derive(Clone)]
pub struct PostgresTls {
    connect: Result<MakeRustlsConnect, Arc<str>>,
    verify: Verify,
}

impl fmt::Debug for PostgresTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresTls")
            .field("verify", &self.verify)
            .field("problem", &self.problem())
            .finish()
    }
}

impl PostgresTls {
    /// Why no connection can be opened with this set-up (`sslrootcert` unreadable or holding
    /// no certificate), if so.
    pub fn problem(&self) -> Option<&str> {
        self.connect.as_ref().err().map(|reason| &**reason)
    }
}

impl MakeTlsConnect<Socket> for PostgresTls {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Self::TlsConnect, io::Error> {
        match &mut self.connect {
            Ok(make) => match MakeTlsConnect::<Socket>::make_tls_connect(make, domain) {
                Ok(connect) => Ok(connect),
                Err(never) => match never {},
            },
            Err(reason) => Err(io::Error::other(reason.to_string())),
        }
    }
}

/// The settings and the TLS set-up of `url` (`postgres://…` or `key=value`): connect with
/// `config.connect(tls)` (tokio-postgres), or `postgres::Config::from(config).connect(tls)`.
///
/// Errors: the URL does not parse (tokio-postgres' error, which may quote the URL: show it
/// with [`crate::display_url`] only). A CA file that cannot be read is not an error here but
/// in [`PostgresTls::problem`] and at every connection, so that a caller whose errors are
/// tokio-postgres' own can use this as it is.
pub fn postgres_config(
    url: &str,
) -> Result<(tokio_postgres::Config, PostgresTls), tokio_postgres::Error> {
    let (rest, params) = take_tls_params(url);
    let mut config: tokio_postgres::Config = rest.parse()?;
    let verify = match params.mode.as_deref() {
        Some("verify-full") => Verify::Full,
        Some("verify-ca") => Verify::Chain,
        _ => match config.get_ssl_mode() {
            SslMode::Require => Verify::Full,
            _ => Verify::Nothing,
        },
    };
    if params.mode.is_some() {
        config.ssl_mode(SslMode::Require);
    }
    let connect = client_config(verify, params.root_cert.as_deref())
        .map(MakeRustlsConnect::new)
        .map_err(Arc::from);
    Ok((config, PostgresTls { connect, verify }))
}

/// A [`postgres_config`] for the storage: its errors as [`StorageError::Invalid`], a CA file
/// that cannot be read included.
pub(crate) fn storage_config(url: &str) -> Result<(postgres::Config, PostgresTls), StorageError> {
    let shown = crate::display_url(url);
    let (config, tls) = postgres_config(url).map_err(|error| {
        StorageError::Invalid(format!(
            "not a PostgreSQL URL ({shown}): {}",
            with_causes(&error)
        ))
    })?;
    if let Some(problem) = tls.problem() {
        return Err(StorageError::Invalid(format!("{shown}: {problem}")));
    }
    Ok((postgres::Config::from(config), tls))
}

/// A failed connection to `host` as [`StorageError::Io`], with what to do when it was the
/// server's certificate that did not verify.
pub(crate) fn connect_error(host: &str, error: &postgres::Error) -> StorageError {
    let text = with_causes(error);
    let hint = if text.contains("invalid peer certificate") {
        format!(
            " (the certificate of the PostgreSQL server at {host} does not verify: give the CA \
             that signed it with sslrootcert=/path/ca.pem in the URL, or use sslmode=verify-ca \
             when its host name differs; docs/OPERATIONS.md)"
        )
    } else {
        String::new()
    };
    StorageError::Io(format!(
        "could not connect to PostgreSQL at {host}: {text}{hint}"
    ))
}

/// `error` and its causes (tokio-postgres' errors display their kind only: "error performing
/// TLS handshake", "db error", without why), for messages and logs.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// The TLS parameters of a URL that tokio-postgres does not know.
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsParams {
    /// `verify-ca` or `verify-full`, taken out of the URL (other modes stay in it).
    mode: Option<String>,
    root_cert: Option<String>,
}

/// `url` without `sslrootcert` and the `verify-*` modes, and those parameters.
fn take_tls_params(url: &str) -> (String, TlsParams) {
    let mut params = TlsParams::default();
    let mut keep = |key: &str, value: String| match key {
        "sslrootcert" => {
            params.root_cert = Some(value);
            false
        }
        "sslmode" if value == "verify-ca" || value == "verify-full" => {
            params.mode = Some(value);
            false
        }
        _ => true,
    };
    let rest = if let Some((before, query)) = url.split_once('?')
        && before.contains("://")
    {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                keep(key, percent_decode(value))
            })
            .collect();
        if kept.is_empty() {
            before.to_owned()
        } else {
            format!("{before}?{}", kept.join("&"))
        }
    } else if url.contains("://") {
        url.to_owned()
    } else {
        match key_value_pairs(url) {
            Some(pairs) => pairs
                .into_iter()
                .filter(|(key, value, _)| keep(key, value.clone()))
                .map(|(_, _, text)| text)
                .collect::<Vec<_>>()
                .join(" "),
            // Left to tokio-postgres, which says what is wrong.
            None => url.to_owned(),
        }
    };
    (rest, params)
}

/// The `key=value` form as (key, value, the pair's text), values unquoted (libpq's rules:
/// `'…'` with `\` escapes); `None` if it is not well formed.
fn key_value_pairs(text: &str) -> Option<Vec<(String, String, &str)>> {
    let mut pairs = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace())?;
        let key = rest[..key_end].to_owned();
        rest = rest[key_end..].trim_start().strip_prefix('=')?.trim_start();
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let quoted = rest.starts_with('\'');
        if quoted {
            chars.next();
        }
        let mut end = rest.len();
        let mut closed = !quoted;
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?.1),
                '\'' if quoted => {
                    end = at + 1;
                    closed = true;
                    break;
                }
                c if !quoted && c.is_whitespace() => {
                    end = at;
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            return None;
        }
        rest = &rest[end..];
        let pair = &start[..start.len() - rest.len()];
        pairs.push((key, value, pair));
        rest = rest.trim_start();
    }
    Some(pairs)
}

/// `%XX` escapes decoded (a URL's query value); anything malformed is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%'
            && let Some(hex) = text.get(at + 1..at + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rustls configuration for `verify`, trusting the CAs of `root_cert` (a PEM file) or
/// Mozilla's roots.
fn client_config(verify: Verify, root_cert: Option<&str>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS set-up: {error}"))?;
    let roots = Arc::new(match root_cert {
        Some(path) => roots_from(path)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    });
    let config = match verify {
        Verify::Full => builder.with_root_certificates(roots).with_no_client_auth(),
        Verify::Chain | Verify::Nothing => {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                .build()
                .map_err(|error| format!("TLS set-up: {error}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PartialVerifier {
                    webpki,
                    provider,
                    check_chain: verify == Verify::Chain,
                }))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// The certificates of the PEM file at `path`, as trust anchors.
fn roots_from(path: &str) -> Result<RootCertStore, String> {
    let unreadable = |error: &dyn fmt::Display| format!("cannot read sslrootcert {path}: {error}");
    let bytes = std::fs::read(path).map_err(|error| unreadable(&error))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        let certificate = certificate.map_err(|error| unreadable(&error))?;
        roots.add(certificate).map_err(|error| unreadable(&error))?;
    }
    if roots.is_empty() {
        return Err(format!("sslrootcert {path} holds no PEM certificate"));
    }
    Ok(roots)
}

/// The verifier of `verify-ca` (the chain, any host name) and `prefer` (nothing). Either way
/// the handshake's signatures are checked against the certificate's key.
#[derive(Debug)]
struct PartialVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    check_chain: bool,
}

impl ServerCertVerifier for PartialVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.check_chain {
            return Ok(ServerCertVerified::assertion());
        }
        // webpki checks the chain first, the name last: a name error means the chain is good.
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_tls_parameters_out_of_a_url() {
        let (rest, params) = take_tls_params(
            "postgres://u:p@db:5432/x?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem&application_name=a",
        );
        assert_eq!(rest, "postgres://u:p@db:5432/x?application_name=a");
        assert_eq!(params.mode.as_deref(), Some("verify-ca"));
        assert_eq!(params.root_cert.as_deref(), Some("/etc/ca.pem"));

        let (rest, params) = take_tls_params("postgres://u@db/x?sslmode=require");
        assert_eq!(rest, "postgres://u@db/x?sslmode=require");
        assert_eq!(params, TlsParams::default());

        let (rest, params) = take_tls_params("postgres://u@db/x?sslrootcert=/ca.pem");
        assert_eq!(rest, "postgres://u@db/x");
        assert_eq!(params.root_cert.as_deref(), Some("/ca.pem"));
    }

    #[test]
    fn takes_the_tls_parameters_out_of_the_key_value_form() {
        let (rest, params) = take_tls_params(
            "host=db password='a b\\'c' sslmode = verify-full sslrootcert='/my certs/ca.pem' user=u",
        );
        assert_eq!(rest, "host=db password='a b\\'c' user=u");
        assert_eq!(params.mode.as_deref(), Some("verify-full"));
        assert_eq!(params.root_cert.as_deref(), Some("/my certs/ca.pem"));
        assert_eq!(
            key_value_pairs("a='unclosed"),
            None,
            "left to tokio-postgres"
        );
    }

    #[test]
    fn the_mode_decides_tls_and_verification() {
        let mode = |url: &str| {
            let (config, tls) = postgres_config(url).unwrap();
            (config.get_ssl_mode(), tls.verify)
        };
        assert_eq!(
            mode("postgres://u@db/x"),
            (SslMode::Prefer, Verify::Nothing)
        );
        assert_eq!(
            mode("postgres://u@db/x?sslmode=disable"),
            (SslMode::Disable, Verify::Nothing)
        );
        assert_eq!(
            mode("postgres://u@db/x?sslmode=require"),
            (SslMode::Require, Verify::Full)
        );
        assert_eq!(
            mode("postgres://u@db/x?sslmode=verify-full"),
            (SslMode::Require, Verify::Full)
        );
        assert_eq!(
            mode("host=db sslmode=verify-ca"),
            (SslMode::Require, Verify::Chain)
        );
        assert!(postgres_config("postgres://u@db/x?sslmode=sometimes").is_err());
    }

    #[test]
    fn an_unreadable_ca_file_is_a_clear_error_without_the_password() {
        let url = "postgres://u:secret@db/x?sslmode=require&sslrootcert=/nonexistent/ca.pem";
        let (_, tls) = postgres_config(url).unwrap();
        assert!(tls.problem().unwrap().contains("/nonexistent/ca.pem"));
        let error = storage_config(url).unwrap_err().to_string();
        assert!(
            error.contains("cannot read sslrootcert /nonexistent/ca.pem"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let url = format!("postgres://u@db/x?sslrootcert={}", empty.display());
        let error = storage_config(&url).unwrap_err().to_string();
        assert!(error.contains("holds no PEM certificate"), "{error}");
    }
}
