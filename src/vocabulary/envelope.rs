//! What is read before any signature: the envelope (base64url, protobuf, block count) and the
//! records that name the holder, found by walking each block's fields without decoding the rest.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use biscuit_auth::format::schema;
use prost::Message;

use super::names as n;
use super::records::{
    authority_record, delegation_record, AuthorityRecord, DelegationRecord, ReadError, MAX_SYMBOLS,
    MAX_SYMBOL_BYTES,
};
use super::terms::{predicate, Symbols, T};
use super::VERSION;

pub(crate) fn engine() -> GeneralPurpose {
    GeneralPurpose::new(
        &URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// A token's envelope: every block's bytes, signature and external key. Nothing inside a
/// block has been read.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// The root key id the token names.
    pub(crate) root_key_id: Option<u32>,
    /// The authority block, then every other block.
    pub(crate) blocks: Vec<schema::SignedBlock>,
    /// The token's proof: the last next key's secret (or a seal).
    pub(crate) proof: schema::Proof,
}

impl Envelope {
    /// The last block's revocation id (its signature): the token id.
    pub(crate) fn last_revocation_id(&self) -> Option<&[u8]> {
        self.blocks.last().map(|b| b.signature.as_slice())
    }
}

/// Decodes token text: base64url, the protobuf envelope and the block count, checked before
/// any block is read.
pub(crate) fn read_envelope(text: &str, max_blocks: usize) -> Result<Envelope, ReadError> {
    let bytes = engine()
        .decode(text.trim())
        .map_err(|_| ReadError::Malformed)?;
    envelope(bytes, max_blocks)
}

/// Decodes a binary token's envelope.
pub(crate) fn envelope(bytes: Vec<u8>, max_blocks: usize) -> Result<Envelope, ReadError> {
    let e = schema::Biscuit::decode(bytes.as_slice()).map_err(|_| ReadError::Malformed)?;
    // Count before reading any block: a token of many tiny blocks buys nothing.
    if e.blocks.len().saturating_add(1) > max_blocks {
        return Err(ReadError::TooManyBlocks);
    }
    // prost does not enforce proto2's `required`: an envelope is well-formed only with a proof
    // and, for every block, a signature and an ed25519 next key of the right sizes.
    let well_formed = |b: &schema::SignedBlock| {
        b.signature.len() == 64
            && ed25519_bytes(&b.next_key).is_some()
            && b.external_signature
                .as_ref()
                .is_none_or(|e| e.signature.len() == 64)
    };
    let mut blocks = Vec::with_capacity(e.blocks.len() + 1);
    blocks.push(e.authority);
    blocks.extend(e.blocks);
    if e.proof.content.is_none() || !blocks.iter().all(well_formed) {
        return Err(ReadError::Malformed);
    }
    Ok(Envelope {
        root_key_id: e.root_key_id,
        blocks,
        proof: e.proof,
    })
}

/// What the proof's check needs, read before any signature: the authority record and every
/// delegation's signer and record. Each is the block's leading fact (the writer puts it
/// there), found by walking the block's protobuf fields without decoding the others, so a
/// block bloated with checks, rules or further facts costs a skip, not a parse.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    pub(crate) authority: AuthorityRecord,
    /// (block index, signer key bytes, record), in block order.
    pub(crate) delegations: Vec<(usize, [u8; 32], DelegationRecord)>,
}

/// Reads the records the holder walk needs.
pub(crate) fn records(env: &Envelope) -> Result<Records, ReadError> {
    let mut blocks = env.blocks.iter().enumerate();
    let Some((_, authority)) = blocks.next() else {
        return Err(ReadError::Malformed);
    };
    if authority.external_signature.is_some() {
        return Err(ReadError::OutsideGrammar {
            block: 0,
            what: "an external signature",
        });
    }
    let authority = head(0, &authority.block, 2, |symbols, facts| {
        let sym = Symbols { table: symbols };
        let facts: Vec<_> = facts
            .iter()
            .map(|f| predicate(&f.predicate, &sym))
            .collect::<Option<_>>()
            .ok_or(ReadError::MalformedAuthority)?;
        match facts.first() {
            Some((n::VERSION, terms)) => match terms.as_slice() {
                [T::Int(VERSION)] => {}
                [T::Int(other)] => return Err(ReadError::UnsupportedVersion(*other)),
                _ => return Err(ReadError::MalformedAuthority),
            },
            _ => return Err(ReadError::MalformedAuthority),
        }
        authority_record(facts.get(1..).unwrap_or_default())
    })?;
    let mut delegations = Vec::new();
    for (index, block) in blocks {
        let Some(ext) = &block.external_signature else {
            continue;
        };
        let malformed = ReadError::MalformedDelegation(index);
        let signer = ed25519_bytes(&ext.public_key).ok_or_else(|| malformed.clone())?;
        let record = head(index, &block.block, 1, |symbols, facts| {
            let sym = Symbols { table: symbols };
            let facts: Vec<_> = facts
                .iter()
                .map(|f| predicate(&f.predicate, &sym))
                .collect::<Option<_>>()
                .ok_or_else(|| malformed.clone())?;
            delegation_record(&facts).ok_or_else(|| malformed.clone())
        })?;
        delegations.push((index, signer, record));
    }
    Ok(Records {
        authority,
        delegations,
    })
}

/// Calls `f` with a block's symbols and its first `want` facts, found by walking the block's
/// fields: symbols are borrowed, every other field is skipped undecoded.
pub(crate) fn head<R>(
    index: usize,
    block: &[u8],
    want: usize,
    f: impl FnOnce(&[&str], &[schema::Fact]) -> Result<R, ReadError>,
) -> Result<R, ReadError> {
    use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
    let mut buf = block;
    let mut symbols: Vec<&str> = Vec::new();
    let mut facts: Vec<schema::Fact> = Vec::with_capacity(want);
    while !buf.is_empty() {
        let (tag, wire) = decode_key(&mut buf).map_err(|_| ReadError::Malformed)?;
        let wanted = tag == 1 || (tag == 4 && facts.len() < want);
        if wire == WireType::LengthDelimited && wanted {
            let len = usize::try_from(decode_varint(&mut buf).map_err(|_| ReadError::Malformed)?)
                .map_err(|_| ReadError::Malformed)?;
            let (field, rest) = buf.split_at_checked(len).ok_or(ReadError::Malformed)?;
            buf = rest;
            if tag == 1 {
                symbols.push(std::str::from_utf8(field).map_err(|_| ReadError::Malformed)?);
            } else {
                facts.push(schema::Fact::decode(field).map_err(|_| ReadError::Malformed)?);
            }
        } else {
            skip_field(wire, tag, &mut buf, DecodeContext::default())
                .map_err(|_| ReadError::Malformed)?;
        }
    }
    if symbols.len() > MAX_SYMBOLS || symbols.iter().any(|s| s.len() > MAX_SYMBOL_BYTES) {
        return Err(ReadError::OutsideGrammar {
            block: index,
            what: "the symbol table's size",
        });
    }
    f(&symbols, &facts)
}

pub(crate) fn ed25519_bytes(key: &schema::PublicKey) -> Option<[u8; 32]> {
    if key.algorithm != schema::public_key::Algorithm::Ed25519 as i32 {
        return None;
    }
    key.key.as_slice().try_into().ok()
}
