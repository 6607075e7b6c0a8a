//! Fresh receive addresses for invoices, derived from an account's extended
//! *public* key, so that paywatch stays watch-only: each payment request gets
//! the address `0/index` under the account (BIP-32 public derivation).
//!
//! [`AccountKey::parse`] is the edge: it takes an `xpub`, a SLIP-132
//! `ypub`/`zpub` (or the testnet `tpub`/`upub`/`vpub`), or a one-key output
//! descriptor (`wpkh([…]xpub…/0/*)#…`), checks the key against the chain's
//! network and script type, and refuses private keys without echoing them.
//! Error messages name a key by its first four characters only: an xpub
//! reveals every address of its account.

use std::fmt;
use std::str::FromStr;

use bitcoin::bip32::{self, ChildNumber, Fingerprint, Xpub};
use bitcoin::secp256k1::{Secp256k1, Verification};
use bitcoin::{CompressedPublicKey, Network, NetworkKind};

/// How a Bitcoin account's child keys become addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScriptType {
    /// Pay-to-pubkey-hash, `1…` (BIP-44).
    P2pkh,
    /// P2WPKH nested in P2SH, `3…` (BIP-49).
    P2shP2wpkh,
    /// Native segwit v0, `bc1q…` (BIP-84).
    P2wpkh,
    /// Taproot key path with no script tree, `bc1p…` (BIP-86).
    P2tr,
}

impl ScriptType {
    const ALL: [ScriptType; 4] = [
        ScriptType::P2pkh,
        ScriptType::P2shP2wpkh,
        ScriptType::P2wpkh,
        ScriptType::P2tr,
    ];

    /// The name used in config and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptType::P2pkh => "p2pkh",
            ScriptType::P2shP2wpkh => "p2sh-p2wpkh",
            ScriptType::P2wpkh => "p2wpkh",
            ScriptType::P2tr => "p2tr",
        }
    }
}

impl fmt::Display for ScriptType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScriptType {
    type Err = UnknownScriptType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScriptType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownScriptType(s.to_string()))
    }
}

/// A script type name that is not one of [`ScriptType`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown script type `{0}` (p2pkh, p2sh-p2wpkh, p2wpkh or p2tr)")]
pub struct UnknownScriptType(pub String);

/// The chain an account key makes addresses for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressKind {
    /// Bitcoin addresses for this network (regtest: `bcrt1…`, `m…`/`n…`,
    /// `2…`), of the account's [`ScriptType`].
    Bitcoin(Network),
    /// EIP-55 checksummed `0x…` addresses (account m/44'/60'/N').
    Evm,
    /// Base58check `T…` addresses (account m/44'/195'/N').
    Tron,
}

/// How the derived keys of a parsed account become addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Bitcoin {
        network: Network,
        script: ScriptType,
    },
    Evm,
    Tron,
}

/// Why a text is not a usable account key. Keys are named by their first
/// four characters (`prefix`), never in full.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not an extended public key: {reason}")]
    NotAKey { reason: String },
    #[error(
        "`{prefix}…` is a private key: give the account's public key (`{public}…`); \
         paywatch is watch-only and never takes private keys"
    )]
    Private { prefix: String, public: String },
    #[error(
        "that is a WIF private key: give the account's extended public key (`xpub…`); \
         paywatch is watch-only and never takes private keys"
    )]
    PrivateWif,
    #[error("`{prefix}…` is a multi-signature key; only single-key accounts are supported")]
    Multisig { prefix: String },
    #[error("`{prefix}…` is not a valid extended public key: {source}")]
    InvalidKey {
        prefix: String,
        source: bip32::Error,
    },
    #[error("`{prefix}…` is a {key_network} key but the chain is {chain_network}")]
    NetworkMismatch {
        prefix: String,
        key_network: &'static str,
        chain_network: &'static str,
    },
    /// Two sources disagree on the script type; each phrase names its source.
    #[error("{first} but {second}")]
    ScriptConflict { first: String, second: String },
    #[error(
        "`{prefix}…` does not say which addresses it makes: set script_type to \
         p2pkh, p2sh-p2wpkh, p2wpkh or p2tr, or give a descriptor such as wpkh({prefix}…/0/*)"
    )]
    ScriptMissing { prefix: String },
    #[error(
        "script_type is a Bitcoin setting: {family} account keys make {family} addresses only"
    )]
    ScriptNotAllowed { family: &'static str },
    #[error(
        "output descriptors are for Bitcoin: give the {family} account's plain `xpub…` ({path})"
    )]
    DescriptorNotAllowed {
        family: &'static str,
        path: &'static str,
    },
    #[error("`{prefix}…` is not an account key for {family}: give the plain `xpub…` of {path}")]
    NotPlainXpub {
        prefix: String,
        family: &'static str,
        path: &'static str,
    },
    #[error(
        "the {family} account key is the hardened depth-3 key at {path} (or another account'); \
         `{prefix}…` is {}", describe_level(.depth, .hardened)
    )]
    NotAccountLevel {
        prefix: String,
        family: &'static str,
        path: &'static str,
        depth: u8,
        hardened: bool,
    },
    #[error("descriptor: {0}")]
    Descriptor(String),
    #[error(transparent)]
    UnknownScriptType(#[from] UnknownScriptType),
}

fn describe_level(depth: &u8, hardened: &bool) -> String {
    match (*depth, *hardened) {
        (3, false) => "at depth 3 but its last step is not hardened".to_string(),
        (4, _) => "at depth 4: the /0 chain key? give its parent, the account key".to_string(),
        (d, _) => format!("at depth {d}"),
    }
}

/// Why an address could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("address index {0} is out of range: receive indexes are below 2^31 (non-hardened)")]
    IndexOutOfRange(u32),
    /// BIP-32 public derivation failed: an invalid child (probability below
    /// 2^-127, skip to the next index) or a key too deep to derive from.
    #[error("cannot derive the receive key 0/{index}: {source}")]
    Derive { index: u32, source: bip32::Error },
}

/// An account-level extended public key and the kind of addresses it makes.
///
/// `Debug` shows the key's fingerprint, not the key: the key reveals every
/// address of the account.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountKey {
    xpub: Xpub,
    form: Form,
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKey")
            .field("form", &self.form)
            .field("fingerprint", &self.xpub.fingerprint())
            .finish_non_exhaustive()
    }
}

impl AccountKey {
    /// Parses an account key for `kind`; `script` is the configured
    /// `script_type` name, if any.
    ///
    /// Bitcoin takes `xpub`/`ypub`/`zpub` on mainnet and `tpub`/`upub`/`vpub`
    /// on testnet, signet and regtest, or a descriptor `pkh(KEY/0/*)`,
    /// `sh(wpkh(KEY/0/*))`, `wpkh(KEY/0/*)` or `tr(KEY/0/*)`, where KEY may
    /// carry a `[fingerprint/path]` origin and the descriptor a `#checksum`
    /// (verified when present). The script type comes from the key's
    /// version (`ypub`: p2sh-p2wpkh, `zpub`: p2wpkh), the descriptor, or
    /// `script`; these must agree, and a plain `xpub`/`tpub` needs one.
    ///
    /// EVM and TRON take the plain `xpub` of the account, m/44'/60'/N' resp.
    /// m/44'/195'/N' (depth 3, hardened), and no `script`. The coin type is
    /// not recorded in the key, so the caller vouches for it.
    pub fn parse(text: &str, kind: AddressKind, script: Option<&str>) -> Result<Self, KeyError> {
        let text = text.trim();
        let (family, path, form) = match kind {
            AddressKind::Bitcoin(network) => {
                let script = script.map(|s| s.trim().parse()).transpose()?;
                return Self::parse_bitcoin(text, network, script);
            }
            AddressKind::Evm => ("EVM", "m/44'/60'/0'", Form::Evm),
            AddressKind::Tron => ("TRON", "m/44'/195'/0'", Form::Tron),
        };
        if text.contains('(') {
            return Err(KeyError::DescriptorNotAllowed { family, path });
        }
        if script.is_some() {
            return Err(KeyError::ScriptNotAllowed { family });
        }
        let key = decode_key(text)?;
        if key.xpub.network != NetworkKind::Main || key.implied.is_some() {
            return Err(KeyError::NotPlainXpub {
                prefix: key.prefix,
                family,
                path,
            });
        }
        let hardened = key.xpub.child_number.is_hardened();
        if key.xpub.depth != 3 || !hardened {
            return Err(KeyError::NotAccountLevel {
                prefix: key.prefix,
                family,
                path,
                depth: key.xpub.depth,
                hardened,
            });
        }
        Ok(AccountKey {
            xpub: key.xpub,
            form,
        })
    }

    fn parse_bitcoin(
        text: &str,
        network: Network,
        script: Option<ScriptType>,
    ) -> Result<Self, KeyError> {
        let descriptor = if text.contains('(') {
            Some(Descriptor::parse(text)?)
        } else {
            None
        };
        let key = decode_key(descriptor.as_ref().map_or(text, |d| d.key))?;
        let key_network = key.xpub.network;
        if key_network != NetworkKind::from(network) {
            return Err(KeyError::NetworkMismatch {
                prefix: key.prefix,
                key_network: if key_network.is_mainnet() {
                    "mainnet"
                } else {
                    "testnet"
                },
                chain_network: network_name(network),
            });
        }

        // Every source that names a script type, as the phrase an error shows.
        let mut claims = Vec::new();
        if let Some(s) = key.implied {
            claims.push((format!("`{}…` implies {s}", key.prefix), s));
        }
        if let Some(d) = &descriptor {
            claims.push((
                format!("the descriptor `{}` implies {}", d.outline(), d.script),
                d.script,
            ));
            d.check_origin(&key.xpub)?;
        }
        if let Some(s) = script {
            claims.push((format!("script_type = \"{s}\""), s));
        }
        let Some((first, chosen)) = claims.first() else {
            return Err(KeyError::ScriptMissing { prefix: key.prefix });
        };
        if let Some((second, _)) = claims.iter().find(|(_, s)| s != chosen) {
            return Err(KeyError::ScriptConflict {
                first: first.clone(),
                second: second.clone(),
            });
        }
        Ok(AccountKey {
            xpub: key.xpub,
            form: Form::Bitcoin {
                network,
                script: *chosen,
            },
        })
    }

    /// The chain this key makes addresses for.
    pub fn kind(&self) -> AddressKind {
        match self.form {
            Form::Bitcoin { network, .. } => AddressKind::Bitcoin(network),
            Form::Evm => AddressKind::Evm,
            Form::Tron => AddressKind::Tron,
        }
    }

    /// The script type of a Bitcoin account; `None` for EVM and TRON.
    pub fn script_type(&self) -> Option<ScriptType> {
        match self.form {
            Form::Bitcoin { script, .. } => Some(script),
            Form::Evm | Form::Tron => None,
        }
    }

    /// The key's BIP-32 fingerprint: names the account in storage and logs
    /// without revealing its addresses.
    pub fn fingerprint(&self) -> Fingerprint {
        self.xpub.fingerprint()
    }

    /// The receive address `0/index` (non-hardened) in the chain's display
    /// form: a Bitcoin address for the configured network, an EIP-55 `0x…`
    /// address, or a TRON base58check `T…` address.
    pub fn receive_address(&self, index: u32) -> Result<String, DeriveError> {
        let secp = Secp256k1::verification_only();
        let child =
            ChildNumber::from_normal_idx(index).map_err(|_| DeriveError::IndexOutOfRange(index))?;
        let key = derive_child(&secp, &self.xpub, ChildNumber::Normal { index: 0 })
            .and_then(|branch| derive_child(&secp, &branch, child))
            .map_err(|source| DeriveError::Derive { index, source })?;
        Ok(match self.form {
            Form::Bitcoin { network, script } => {
                let pk = CompressedPublicKey(key.public_key);
                let address = match script {
                    ScriptType::P2pkh => bitcoin::Address::p2pkh(pk, network),
                    ScriptType::P2shP2wpkh => bitcoin::Address::p2shwpkh(&pk, network),
                    ScriptType::P2wpkh => bitcoin::Address::p2wpkh(&pk, network),
                    ScriptType::P2tr => {
                        bitcoin::Address::p2tr(&secp, key.to_x_only_pub(), None, network)
                    }
                };
                address.to_string()
            }
            Form::Evm => evm_address(&key).to_checksum(None),
            Form::Tron => {
                let mut payload = [0u8; 21];
                payload[0] = TRON_ADDRESS_PREFIX;
                payload[1..].copy_from_slice(evm_address(&key).as_slice());
                bs58::encode(payload).with_check().into_string()
            }
        })
    }
}

/// First byte of a TRON address.
const TRON_ADDRESS_PREFIX: u8 = 0x41;

/// Keccak-256 of the uncompressed key, last 20 bytes: the EVM (and TRON)
/// account address.
fn evm_address(key: &Xpub) -> alloy::primitives::Address {
    let uncompressed = key.public_key.serialize_uncompressed();
    alloy::primitives::Address::from_raw_public_key(&uncompressed[1..])
}

/// One step of BIP-32 public derivation.
fn derive_child<C: Verification>(
    secp: &Secp256k1<C>,
    parent: &Xpub,
    child: ChildNumber,
) -> Result<Xpub, bip32::Error> {
    parent.ckd_pub(secp, child)
}

fn network_name(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "mainnet",
        Network::Testnet => "testnet",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

// ---- serialized extended keys ---------------------------------------------

/// What the four version bytes of a serialized extended key say (SLIP-132).
#[derive(Clone, Copy)]
enum Version {
    Public {
        network: NetworkKind,
        implied: Option<ScriptType>,
    },
    Private,
    Multisig,
}

const XPUB_VERSION: [u8; 4] = [0x04, 0x88, 0xb2, 0x1e];
const TPUB_VERSION: [u8; 4] = [0x04, 0x35, 0x87, 0xcf];

/// Bitcoin's registered version bytes (SLIP-132).
const VERSIONS: [([u8; 4], Version); 20] = [
    (XPUB_VERSION, public(MAINNET, None)),
    ([0x04, 0x9d, 0x7c, 0xb2], public(MAINNET, Some(NESTED))), // ypub
    ([0x04, 0xb2, 0x47, 0x46], public(MAINNET, Some(NATIVE))), // zpub
    (TPUB_VERSION, public(TESTNET, None)),
    ([0x04, 0x4a, 0x52, 0x62], public(TESTNET, Some(NESTED))), // upub
    ([0x04, 0x5f, 0x1c, 0xf6], public(TESTNET, Some(NATIVE))), // vpub
    ([0x04, 0x88, 0xad, 0xe4], Version::Private),              // xprv
    ([0x04, 0x9d, 0x78, 0x78], Version::Private),              // yprv
    ([0x04, 0xb2, 0x43, 0x0c], Version::Private),              // zprv
    ([0x04, 0x35, 0x83, 0x94], Version::Private),              // tprv
    ([0x04, 0x4a, 0x4e, 0x28], Version::Private),              // uprv
    ([0x04, 0x5f, 0x18, 0xbc], Version::Private),              // vprv
    ([0x02, 0x95, 0xb0, 0x05], Version::Private),              // Yprv
    ([0x02, 0xaa, 0x7a, 0x99], Version::Private),              // Zprv
    ([0x02, 0x42, 0x85, 0xb5], Version::Private),              // Uprv
    ([0x02, 0x57, 0x50, 0x48], Version::Private),              // Vprv
    ([0x02, 0x95, 0xb4, 0x3f], Version::Multisig),             // Ypub
    ([0x02, 0xaa, 0x7e, 0xd3], Version::Multisig),             // Zpub
    ([0x02, 0x42, 0x89, 0xef], Version::Multisig),             // Upub
    ([0x02, 0x57, 0x54, 0x83], Version::Multisig),             // Vpub
];

const MAINNET: NetworkKind = NetworkKind::Main;
const TESTNET: NetworkKind = NetworkKind::Test;
const NESTED: ScriptType = ScriptType::P2shP2wpkh;
const NATIVE: ScriptType = ScriptType::P2wpkh;

const fn public(network: NetworkKind, implied: Option<ScriptType>) -> Version {
    Version::Public { network, implied }
}

/// A decoded extended public key and the script type its version implies.
struct DecodedKey {
    xpub: Xpub,
    implied: Option<ScriptType>,
    /// The first four characters of the text, for messages.
    prefix: String,
}

fn decode_key(text: &str) -> Result<DecodedKey, KeyError> {
    let prefix: String = text.chars().take(4).collect();
    let not_a_key = |reason: String| KeyError::NotAKey { reason };
    if text.is_empty() {
        return Err(not_a_key("the text is empty".into()));
    }
    if text.contains(char::is_whitespace) {
        return Err(not_a_key(
            "it contains spaces; a seed phrase is never needed, give the account's `xpub…`".into(),
        ));
    }
    let data = bs58::decode(text)
        .with_check(None)
        .into_vec()
        .map_err(|e| not_a_key(describe_bs58(&e)))?;
    if data.len() != 78 {
        return Err(match (data.len(), data.first()) {
            // Mainnet or testnet WIF, uncompressed or compressed.
            (33 | 34, Some(0x80 | 0xef)) => KeyError::PrivateWif,
            (21, _) => not_a_key("that is an address, not an account key".into()),
            (n, _) => not_a_key(format!("{n} bytes where an extended key has 78")),
        });
    }
    let version: [u8; 4] = data[..4].try_into().expect("data is 78 bytes long");
    let known = VERSIONS
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, k)| *k);
    let (network, implied) = match known {
        Some(Version::Public { network, implied }) => (network, implied),
        Some(Version::Private) => return Err(private(prefix)),
        Some(Version::Multisig) => return Err(KeyError::Multisig { prefix }),
        // A private key's 33-byte key field starts with 0x00, a public one's
        // with 0x02 or 0x03: refuse an unknown private version too.
        None if data[45] == 0 => return Err(private(prefix)),
        None => {
            return Err(not_a_key(format!(
                "unknown version bytes {} (`{prefix}…`)",
                hex::encode(version)
            )))
        }
    };
    let mut standard = data;
    standard[..4].copy_from_slice(match network {
        NetworkKind::Main => &XPUB_VERSION,
        NetworkKind::Test => &TPUB_VERSION,
    });
    let xpub = Xpub::decode(&standard).map_err(|source| KeyError::InvalidKey {
        prefix: prefix.clone(),
        source,
    })?;
    Ok(DecodedKey {
        xpub,
        implied,
        prefix,
    })
}

fn private(prefix: String) -> KeyError {
    let public = match prefix.strip_suffix("prv") {
        Some(head) if head.len() == 1 => format!("{head}pub"),
        _ => "xpub".to_string(),
    };
    KeyError::Private { prefix, public }
}

fn describe_bs58(e: &bs58::decode::Error) -> String {
    match e {
        bs58::decode::Error::InvalidChecksum { .. } => "bad checksum".into(),
        bs58::decode::Error::InvalidCharacter { character, index } => {
            format!("`{character}` at position {index} is not a base58 character")
        }
        other => other.to_string(),
    }
}

// ---- descriptors ------------------------------------------------------------

/// The one-key descriptor forms accepted: opening, closing, script type.
const DESCRIPTOR_FORMS: [(&str, &str, ScriptType); 4] = [
    ("sh(wpkh(", "))", ScriptType::P2shP2wpkh),
    ("wpkh(", ")", ScriptType::P2wpkh),
    ("pkh(", ")", ScriptType::P2pkh),
    ("tr(", ")", ScriptType::P2tr),
];

/// A one-key output descriptor on the receive branch, `SCRIPT(KEY/0/*)`.
struct Descriptor<'a> {
    script: ScriptType,
    /// The derivation steps of a `[fingerprint/path]` origin, if given.
    origin: Option<Vec<ChildNumber>>,
    key: &'a str,
}

impl<'a> Descriptor<'a> {
    fn parse(text: &'a str) -> Result<Self, KeyError> {
        let err = |m: String| KeyError::Descriptor(m);
        let body = match text.rsplit_once('#') {
            Some((body, checksum)) => {
                verify_checksum(body, checksum)?;
                body
            }
            None => text,
        };
        let Some((script, inner)) = DESCRIPTOR_FORMS.iter().find_map(|(open, close, s)| {
            Some((*s, body.strip_prefix(*open)?.strip_suffix(*close)?))
        }) else {
            // The function names only (`wsh(pk(`), never the key after them.
            let names = body
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '('))
                .map_or(body, |end| &body[..end]);
            let head = names.rfind('(').map_or("", |open| &names[..=open]);
            return Err(err(format!(
                "`{head}…` is not supported: use pkh(…), sh(wpkh(…)), wpkh(…) or tr(…) with one key"
            )));
        };
        if inner.contains([',', '(', ')', '{', '}']) {
            return Err(err(
                "only one key is supported (no multisig and no taproot script tree)".into(),
            ));
        }
        let (origin, key_expr) = match inner.strip_prefix('[') {
            Some(rest) => {
                let (origin, key_expr) = rest
                    .split_once(']')
                    .ok_or_else(|| err("the key origin `[…` is not closed".into()))?;
                (Some(parse_origin(origin)?), key_expr)
            }
            None => (None, inner),
        };
        let (key, branch) = key_expr.split_once('/').unwrap_or((key_expr, ""));
        if branch != "0/*" {
            return Err(err(if branch.is_empty() {
                "the key has no derivation steps: end it with the receive branch /0/*".into()
            } else {
                format!("the key must end with the receive branch /0/* (found /{branch})")
            }));
        }
        Ok(Descriptor {
            script,
            origin,
            key,
        })
    }

    /// The descriptor's shape without the key, for messages: `wpkh(…)`.
    fn outline(&self) -> &'static str {
        match self.script {
            ScriptType::P2pkh => "pkh(…)",
            ScriptType::P2shP2wpkh => "sh(wpkh(…))",
            ScriptType::P2wpkh => "wpkh(…)",
            ScriptType::P2tr => "tr(…)",
        }
    }

    /// The origin path must end where the key is: same depth, same last step.
    fn check_origin(&self, xpub: &Xpub) -> Result<(), KeyError> {
        let Some(path) = &self.origin else {
            return Ok(());
        };
        if path.len() != usize::from(xpub.depth) {
            return Err(KeyError::Descriptor(format!(
                "the key origin has {} derivation steps but the key is at depth {}",
                path.len(),
                xpub.depth
            )));
        }
        match path.last() {
            Some(last) if *last != xpub.child_number => Err(KeyError::Descriptor(format!(
                "the key origin ends with {last} but the key is child {}",
                xpub.child_number
            ))),
            _ => Ok(()),
        }
    }
}

/// Parses `fingerprint/step/step…` (the inside of `[…]`).
fn parse_origin(origin: &str) -> Result<Vec<ChildNumber>, KeyError> {
    let bad = |why: &str| KeyError::Descriptor(format!("bad key origin `[{origin}]`: {why}"));
    let mut parts = origin.split('/');
    let fingerprint = parts.next().unwrap_or_default();
    if fingerprint.len() != 8 || !fingerprint.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad("the fingerprint is not 8 hex digits"));
    }
    parts
        .map(|step| {
            let (number, hardened) = match step.strip_suffix(['h', 'H', '\'']) {
                Some(number) => (number, true),
                None => (step, false),
            };
            let index: u32 = number
                .parse()
                .map_err(|_| bad(&format!("`{step}` is not a derivation step")))?;
            let child = if hardened {
                ChildNumber::from_hardened_idx(index)
            } else {
                ChildNumber::from_normal_idx(index)
            };
            child.map_err(|_| bad(&format!("`{step}` is out of range")))
        })
        .collect()
}

/// BIP-380 descriptor checksum character sets.
const INPUT_CHARSET: &str =
    "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
const CHECKSUM_CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn verify_checksum(body: &str, checksum: &str) -> Result<(), KeyError> {
    let err = |m: String| KeyError::Descriptor(m);
    if checksum.len() != 8 {
        return Err(err(format!(
            "the checksum after `#` has {} characters, not 8",
            checksum.chars().count()
        )));
    }
    let expected = descriptor_checksum(body)?;
    if checksum != expected {
        return Err(err(
            "checksum mismatch: the descriptor was altered or mistyped".into(),
        ));
    }
    Ok(())
}

/// The 8-character BIP-380 checksum of a descriptor without its `#…`.
fn descriptor_checksum(body: &str) -> Result<String, KeyError> {
    fn polymod(c: u64, value: u64) -> u64 {
        const GENERATOR: [u64; 5] = [
            0xf5dee51989,
            0xa9fdca3312,
            0x1bab10e32d,
            0x3706b1677a,
            0x644d626ffd,
        ];
        let top = c >> 35;
        let mut c = ((c & 0x7ffffffff) << 5) ^ value;
        for (i, g) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                c ^= g;
            }
        }
        c
    }
    let mut c = 1u64;
    let (mut class, mut class_count) = (0u64, 0);
    for ch in body.chars() {
        let position = INPUT_CHARSET
            .find(ch)
            .ok_or_else(|| KeyError::Descriptor(format!("`{ch}` is not allowed in a descriptor")))?
            as u64;
        c = polymod(c, position & 31);
        class = class * 3 + (position >> 5);
        class_count += 1;
        if class_count == 3 {
            c = polymod(c, class);
            (class, class_count) = (0, 0);
        }
    }
    if class_count > 0 {
        c = polymod(c, class);
    }
    for _ in 0..8 {
        c = polymod(c, 0);
    }
    c ^= 1;
    Ok((0..8)
        .map(|j| char::from(CHECKSUM_CHARSET[((c >> (5 * (7 - j))) & 31) as usize]))
        .collect())
}

#[cfg(test)]
mod tests {
    //! Vectors: BIP-32 test vector 1; SLIP-0132 "Bitcoin Test Vectors" (the
    //! m/44'/0'/0', m/49'/0'/0', m/84'/0'/0' keys and first addresses);
    //! BIP-84 (second address, account zprv); BIP-86 (account xpub, two
    //! addresses); BIP-49 (testnet upub and address); BIP-380 (checksum,
    //! WIF). The EVM and TRON account xpubs, the regtest address and the
    //! xpub forms of the BIP-49/84 keys were computed from the BIP-39 seed of
    //! the standard test mnemonic "abandon ×11 about" with an independent
    //! pure-Python BIP-32; the EVM/TRON keys and addresses match those
    //! published by wallet test suites (ethers/MetaMask, TronWeb), the
    //! descriptor checksums those printed by BDK and Bitcoin Core tools.
    use super::*;

    const MAIN: AddressKind = AddressKind::Bitcoin(Network::Bitcoin);

    /// BIP-32 test vector 1, chain m/0H and m/0H/1.
    const BIP32_M_0H: &str = "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw";
    const BIP32_M_0H_1: &str = "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ";

    // Account keys of the standard test mnemonic at m/44'/0'/0', m/49'/0'/0',
    // m/84'/0'/0', m/86'/0'/0' (SLIP-0132, BIP-86).
    const BIP44_XPUB: &str = "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj";
    const BIP49_YPUB: &str = "ypub6Ww3ibxVfGzLrAH1PNcjyAWenMTbbAosGNB6VvmSEgytSER9azLDWCxoJwW7Ke7icmizBMXrzBx9979FfaHxHcrArf3zbeJJJUZPf663zsP";
    const BIP84_ZPUB: &str = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
    const BIP86_XPUB: &str = "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ";
    /// The BIP-49 and BIP-84 account keys with the plain xpub version, as
    /// descriptors carry them.
    const BIP49_AS_XPUB: &str = "xpub6C6nQwHaWbSrzs5tZ1q7m5R9cPK9eYpNMFesiXsYrgc1P8bvLLAet9JfHjYXKjToD8cBRswJXXbbFpXgwsswVPAZzKMa1jUp2kVkGVUaJa7";
    const BIP84_AS_XPUB: &str = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V";
    // Testnet account keys of the same mnemonic: m/49'/1'/0' (BIP-49) and
    // m/84'/1'/0'.
    const BIP49_TESTNET_UPUB: &str = "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7Wk3u6moKegAEWtGNF8DehrnHtv21XXEMYRUocHqguyjknFHYfgY";
    const BIP84_TESTNET_VPUB: &str = "vpub5Y6cjg78GGuNLsaPhmYsiw4gYX3HoQiRBiSwDaBXKUafCt9bNwWQiitDk5VZ5BVxYnQdwoTyXSs2JHRPAgjAvtbBrf8ZhDYe2jWAqvZVnsc";
    /// m/44'/60'/0' of the standard test mnemonic.
    const EVM_XPUB: &str = "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt";
    /// m/44'/195'/0' of the standard test mnemonic.
    const TRON_XPUB: &str = "xpub6D1AabNHCupeiLM65ZR9UStMhJ1vCpyV4XbZdyhMZBiJXALQtmn9p42VTQckoHVn8WNqS7dqnJokZHAHcHGoaQgmv8D45oNUKx6DZMNZBCd";

    // Published private keys, to check that they are refused.
    const SLIP132_XPRV: &str = "xprv9xpXFhFpqdQK3TmytPBqXtGSwS3DLjojFhTGht8gwAAii8py5X6pxeBnQ6ehJiyJ6nDjWGJfZ95WxByFXVkDxHXrqu53WCRGypk2ttuqncb";
    const BIP84_ZPRV: &str = "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE";
    const BIP380_WIF: &str = "L4rK1yDtCWekvXuE6oXD9jCYfFNV2cWRpVuPLBcCU2z8TrisoyY1";

    fn address(text: &str, chain: AddressKind, script: Option<&str>, index: u32) -> String {
        AccountKey::parse(text, chain, script)
            .unwrap()
            .receive_address(index)
            .unwrap()
    }

    fn parse_error(text: &str, chain: AddressKind, script: Option<&str>) -> String {
        AccountKey::parse(text, chain, script)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bip32_vector_1_public_child_of_a_hardened_key() {
        let secp = Secp256k1::verification_only();
        let parent: Xpub = BIP32_M_0H.parse().unwrap();
        let child = derive_child(&secp, &parent, ChildNumber::from_normal_idx(1).unwrap());
        assert_eq!(child.unwrap().to_string(), BIP32_M_0H_1);
    }

    #[test]
    fn bip44_xpub_with_p2pkh() {
        let a = address(BIP44_XPUB, MAIN, Some("p2pkh"), 0);
        assert_eq!(a, "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA");
    }

    #[test]
    fn bip49_ypub_implies_p2sh_p2wpkh() {
        let key = AccountKey::parse(BIP49_YPUB, MAIN, None).unwrap();
        assert_eq!(key.kind(), MAIN);
        assert_eq!(key.script_type(), Some(ScriptType::P2shP2wpkh));
        assert_eq!(
            key.receive_address(0).unwrap(),
            "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"
        );
        // Naming the same script type explicitly is fine.
        let a = address(BIP49_YPUB, MAIN, Some("p2sh-p2wpkh"), 0);
        assert_eq!(a, "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf");
    }

    #[test]
    fn bip84_zpub_implies_p2wpkh() {
        let key = AccountKey::parse(BIP84_ZPUB, MAIN, None).unwrap();
        assert_eq!(
            key.receive_address(0).unwrap(),
            "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
        );
        assert_eq!(
            key.receive_address(1).unwrap(),
            "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
        );
    }

    #[test]
    fn bip86_xpub_with_p2tr() {
        let key = AccountKey::parse(BIP86_XPUB, MAIN, Some("p2tr")).unwrap();
        assert_eq!(
            key.receive_address(0).unwrap(),
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
        );
        assert_eq!(
            key.receive_address(1).unwrap(),
            "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"
        );
    }

    #[test]
    fn testnet_keys_on_testnet_signet_and_regtest() {
        let testnet = AddressKind::Bitcoin(Network::Testnet);
        let a = address(BIP49_TESTNET_UPUB, testnet, None, 0);
        assert_eq!(a, "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2");
        let a = address(BIP84_TESTNET_VPUB, testnet, None, 0);
        assert_eq!(a, "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl");
        let signet = AddressKind::Bitcoin(Network::Signet);
        let a = address(BIP84_TESTNET_VPUB, signet, None, 0);
        assert_eq!(a, "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl");
        let regtest = AddressKind::Bitcoin(Network::Regtest);
        let a = address(BIP84_TESTNET_VPUB, regtest, None, 0);
        assert_eq!(a, "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk");
    }

    #[test]
    fn evm_account_xpub() {
        let key = AccountKey::parse(EVM_XPUB, AddressKind::Evm, None).unwrap();
        assert_eq!((key.kind(), key.script_type()), (AddressKind::Evm, None));
        assert_eq!(
            key.receive_address(0).unwrap(),
            "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
        );
        assert_eq!(
            key.receive_address(1).unwrap(),
            "0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0"
        );
    }

    #[test]
    fn tron_account_xpub() {
        let key = AccountKey::parse(TRON_XPUB, AddressKind::Tron, None).unwrap();
        assert_eq!(key.kind(), AddressKind::Tron);
        assert_eq!(
            key.receive_address(0).unwrap(),
            "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"
        );
        assert_eq!(
            key.receive_address(1).unwrap(),
            "TSeJkUh4Qv67VNFwY8LaAxERygNdy6NQZK"
        );
    }

    #[test]
    fn descriptors_imply_the_script_type() {
        let cases = [
            (
                format!("wpkh([73c5da0a/84'/0'/0']{BIP84_AS_XPUB}/0/*)#wc3n3van"),
                "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
            ),
            (
                format!("wpkh([73c5da0a/84h/0h/0h]{BIP84_AS_XPUB}/0/*)#afwvtk2s"),
                "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
            ),
            (
                format!("tr([73c5da0a/86'/0'/0']{BIP86_XPUB}/0/*)#rg247h69"),
                "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
            ),
            (
                format!("tr({BIP86_XPUB}/0/*)#8e7pq23w"),
                "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
            ),
            (
                format!("  pkh([73c5da0a/44'/0'/0']{BIP44_XPUB}/0/*)\n"),
                "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA",
            ),
            (
                format!("sh(wpkh({BIP49_AS_XPUB}/0/*))"),
                "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf",
            ),
            // A SLIP-132 key inside a descriptor that agrees with it.
            (
                format!("wpkh({BIP84_ZPUB}/0/*)"),
                "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
            ),
        ];
        for (descriptor, first) in cases {
            assert_eq!(address(&descriptor, MAIN, None, 0), first, "{descriptor}");
        }
        let d = format!("wpkh({BIP84_AS_XPUB}/0/*)");
        assert_eq!(
            address(&d, MAIN, Some("p2wpkh"), 1),
            "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
        );
    }

    #[test]
    fn bip380_checksum_vector() {
        assert_eq!(descriptor_checksum("raw(deadbeef)").unwrap(), "89f8spxm");
    }

    #[test]
    fn private_keys_are_refused_without_echoing_them() {
        for (key, prefix, public) in [(SLIP132_XPRV, "xprv", "xpub"), (BIP84_ZPRV, "zprv", "zpub")]
        {
            for chain in [MAIN, AddressKind::Evm] {
                let e = parse_error(key, chain, None);
                assert_eq!(
                    e,
                    format!(
                        "`{prefix}…` is a private key: give the account's public key (`{public}…`); \
                         paywatch is watch-only and never takes private keys"
                    )
                );
                assert!(!e.contains(&key[4..12]), "{e}");
            }
        }
        let in_descriptor = format!("wpkh({SLIP132_XPRV}/0/*)");
        let e = parse_error(&in_descriptor, MAIN, None);
        assert!(e.starts_with("`xprv…` is a private key"), "{e}");
        let e = parse_error(BIP380_WIF, MAIN, Some("p2wpkh"));
        assert!(e.starts_with("that is a WIF private key"), "{e}");
        assert!(!e.contains(&BIP380_WIF[..8]), "{e}");
        let e = parse_error(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
            MAIN,
            None,
        );
        assert!(e.contains("a seed phrase is never needed"), "{e}");
        assert!(!e.contains("abandon"), "{e}");
    }

    #[test]
    fn network_mismatch() {
        let regtest = AddressKind::Bitcoin(Network::Regtest);
        assert_eq!(
            parse_error(BIP84_ZPUB, regtest, None),
            "`zpub…` is a mainnet key but the chain is regtest"
        );
        assert_eq!(
            parse_error(BIP84_TESTNET_VPUB, MAIN, None),
            "`vpub…` is a testnet key but the chain is mainnet"
        );
    }

    #[test]
    fn script_type_conflicts_and_gaps() {
        assert_eq!(
            parse_error(BIP49_YPUB, MAIN, Some("p2tr")),
            "`ypub…` implies p2sh-p2wpkh but script_type = \"p2tr\""
        );
        let d = format!("wpkh({BIP84_AS_XPUB}/0/*)");
        assert_eq!(
            parse_error(&d, MAIN, Some("p2tr")),
            "the descriptor `wpkh(…)` implies p2wpkh but script_type = \"p2tr\""
        );
        let d = format!("tr({BIP84_ZPUB}/0/*)");
        assert_eq!(
            parse_error(&d, MAIN, None),
            "`zpub…` implies p2wpkh but the descriptor `tr(…)` implies p2tr"
        );
        let e = parse_error(BIP44_XPUB, MAIN, None);
        assert!(
            e.starts_with("`xpub…` does not say which addresses it makes"),
            "{e}"
        );
    }

    #[test]
    fn garbage_and_corruption() {
        let e = parse_error("", MAIN, None);
        assert_eq!(e, "not an extended public key: the text is empty");
        let e = parse_error("hello", MAIN, Some("p2pkh"));
        assert_eq!(
            e,
            "not an extended public key: `l` at position 2 is not a base58 character"
        );
        // Last character changed: the base58 checksum catches it.
        let corrupt = format!("{}X", &BIP44_XPUB[..BIP44_XPUB.len() - 1]);
        let e = parse_error(&corrupt, MAIN, Some("p2pkh"));
        assert_eq!(e, "not an extended public key: bad checksum");
        let e = parse_error("1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA", MAIN, Some("p2pkh"));
        assert_eq!(
            e,
            "not an extended public key: that is an address, not an account key"
        );
    }

    #[test]
    fn descriptor_errors() {
        let cases = [
            (format!("wpkh({BIP84_AS_XPUB}/1/*)"), "descriptor: the key must end with the receive branch /0/* (found /1/*)"),
            (format!("wpkh({BIP84_AS_XPUB}/<0;1>/*)"), "descriptor: the key must end with the receive branch /0/* (found /<0;1>/*)"),
            (format!("wpkh({BIP84_AS_XPUB}/0/*h)"), "descriptor: the key must end with the receive branch /0/* (found /0/*h)"),
            (format!("wpkh({BIP84_AS_XPUB})"), "descriptor: the key has no derivation steps: end it with the receive branch /0/*"),
            (format!("wsh(pk({BIP84_AS_XPUB}/0/*))"), "descriptor: `wsh(pk(…` is not supported: use pkh(…), sh(wpkh(…)), wpkh(…) or tr(…) with one key"),
            (format!("tr({BIP86_XPUB}/0/*,{{pk({BIP44_XPUB}/0/*)}})"), "descriptor: only one key is supported (no multisig and no taproot script tree)"),
            (format!("wpkh([73c5da0a/84'/0'/0']{BIP84_AS_XPUB}/0/*)#wc3n3vaq"), "descriptor: checksum mismatch: the descriptor was altered or mistyped"),
            (format!("wpkh([73c5da0a/84'/0'/0']{BIP84_AS_XPUB}/0/*)#wc3n3va"), "descriptor: the checksum after `#` has 7 characters, not 8"),
            (format!("wpkh([73c5da0a/84'/0']{BIP84_AS_XPUB}/0/*)"), "descriptor: the key origin has 2 derivation steps but the key is at depth 3"),
            (format!("wpkh([73c5da0a/84'/0'/1']{BIP84_AS_XPUB}/0/*)"), "descriptor: the key origin ends with 1' but the key is child 0'"),
            (format!("wpkh([73c5da0/84'/0'/0']{BIP84_AS_XPUB}/0/*)"), "descriptor: bad key origin `[73c5da0/84'/0'/0']`: the fingerprint is not 8 hex digits"),
        ];
        for (descriptor, message) in cases {
            assert_eq!(
                parse_error(&descriptor, MAIN, None),
                message,
                "{descriptor}"
            );
        }
    }

    #[test]
    fn evm_and_tron_take_a_plain_account_xpub_only() {
        assert_eq!(
            parse_error(EVM_XPUB, AddressKind::Evm, Some("p2wpkh")),
            "script_type is a Bitcoin setting: EVM account keys make EVM addresses only"
        );
        assert_eq!(
            parse_error(BIP84_ZPUB, AddressKind::Tron, None),
            "`zpub…` is not an account key for TRON: give the plain `xpub…` of m/44'/195'/0'"
        );
        assert_eq!(
            parse_error(BIP84_TESTNET_VPUB, AddressKind::Evm, None),
            "`vpub…` is not an account key for EVM: give the plain `xpub…` of m/44'/60'/0'"
        );
        let d = format!("wpkh({EVM_XPUB}/0/*)");
        assert_eq!(
            parse_error(&d, AddressKind::Evm, None),
            "output descriptors are for Bitcoin: give the EVM account's plain `xpub…` (m/44'/60'/0')"
        );
        // The external chain key m/44'/60'/0'/0 instead of the account key.
        let secp = Secp256k1::verification_only();
        let account: Xpub = EVM_XPUB.parse().unwrap();
        let chain_key = derive_child(&secp, &account, ChildNumber::Normal { index: 0 }).unwrap();
        let e = parse_error(&chain_key.to_string(), AddressKind::Evm, None);
        assert_eq!(
            e,
            "the EVM account key is the hardened depth-3 key at m/44'/60'/0' (or another account'); \
             `xpub…` is at depth 4: the /0 chain key? give its parent, the account key"
        );
        let e = parse_error(BIP32_M_0H, AddressKind::Tron, None);
        assert!(e.ends_with("`xpub…` is at depth 1"), "{e}");
    }

    #[test]
    fn index_must_be_non_hardened() {
        let key = AccountKey::parse(BIP84_ZPUB, MAIN, None).unwrap();
        let e = key.receive_address(1 << 31).unwrap_err();
        assert!(
            matches!(e, DeriveError::IndexOutOfRange(0x8000_0000)),
            "{e}"
        );
        assert!(key.receive_address((1 << 31) - 1).is_ok());
    }

    #[test]
    fn debug_hides_the_key() {
        let key = AccountKey::parse(BIP84_ZPUB, MAIN, None).unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains("pub6"), "{debug}");
        assert!(debug.contains("fingerprint"), "{debug}");
    }

    #[test]
    fn script_type_names_round_trip() {
        for t in ScriptType::ALL {
            assert_eq!(t.to_string().parse::<ScriptType>().unwrap(), t);
        }
        assert_eq!(
            "p2sh-p2wpkh".parse::<ScriptType>().unwrap(),
            ScriptType::P2shP2wpkh
        );
        assert_eq!(
            "p2wsh".parse::<ScriptType>().unwrap_err().to_string(),
            "unknown script type `p2wsh` (p2pkh, p2sh-p2wpkh, p2wpkh or p2tr)"
        );
        assert_eq!(
            parse_error(BIP84_ZPUB, MAIN, Some("P2WPKH")),
            "unknown script type `P2WPKH` (p2pkh, p2sh-p2wpkh, p2wpkh or p2tr)"
        );
    }
}
