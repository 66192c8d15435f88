"""Differential tests against Dovecot's IMAP server (issue 18): the MIME corpus in Tests/Fixtures/mime is
APPENDed to Dovecot and to Petrel (same order, same flags, same internal date), and the answers are
compared message by message — FETCH ENVELOPE, BODYSTRUCTURE, BODY, RFC822.SIZE, INTERNALDATE, FLAGS,
BODY[], BODY[HEADER], BODY[TEXT], BODY[HEADER.FIELDS (...)], BODY[HEADER.FIELDS.NOT (...)] and, for every
part either server reports, BODY[p], BODY[p.MIME] (and BODY[p.HEADER], BODY[p.TEXT] for message/rfc822
parts), BINARY[p] and BINARY.SIZE[p] of every part (RFC 3516) — and SEARCH answers for a list of keys
(ASCII and UTF-8 needles with CHARSET UTF-8 literals).

Nothing opens a socket for Dovecot: its `imap` binary runs pre-authenticated on stdin/stdout
(imaplib's IMAP4_stream, through IMAPClient(stream=True)) with a dovecot.conf written into a temporary
directory (Maildir there; nothing under /etc/dovecot is read or changed). Dovecot refuses mail access as
root, so when the tests run as root it runs as `nobody` (setpriv) in a directory that user owns.

Petrel runs three times: `IMAPStdioHarness` (the core over the in-memory store, also on stdin/stdout),
`petrel serve` on the SQLite store and `petrel serve` on PostgreSQL (a cluster of the tests' own,
pg_cluster.py; IMAP on 127.0.0.1, an ephemeral port). All compute FETCH and SEARCH answers from the stored
octets in the core, so they must agree with each other too (the stores must give back the same octets,
flags and internal dates).

Parsed answers are compared (IMAPClient parses ENVELOPE/BODYSTRUCTURE; quoted strings and literals
compare equal). Every difference fails the test unless it is in ALLOWED below; each entry names the
paragraph of docs/IMAP.md "Differences from Dovecot" that explains it with the RFC text. An entry that no
longer differs fails too (so the list stays true).
"""
import dataclasses
import datetime
import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.response_types import BodyData

from conftest import PetrelServer, config_cli, require_peer

pytestmark = pytest.mark.peer("dovecot")

ROOT = Path(__file__).resolve().parents[2]
PETREL_DIR = Path(os.environ.get("PETREL_BIN", ROOT / ".build" / "debug" / "petrel")).parent
HARNESS = Path(os.environ.get("IMAP_HARNESS_BIN", PETREL_DIR / "IMAPStdioHarness"))
DOVECOT_IMAP = "/usr/lib/dovecot/imap"
CORPUS = ROOT / "Tests" / "Fixtures" / "mime"
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.eml"))
USER, PASSWORD = "alice@example.test", "alice-password"

# The same flags and internal date for a message on both servers (varied a little across the corpus).
FLAG_SETS = [(), (b"\\Seen",), (b"\\Flagged", b"$Label1"), (b"\\Answered", b"\\Seen")]
BASE_DATE = datetime.datetime(2021, 3, 4, 5, 6, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))

HEADER_FIELDS = "FROM TO CC SUBJECT DATE CONTENT-TYPE X-MISSING"
HEADER_FIELDS_NOT = "RECEIVED FROM CONTENT-TYPE"

# Accepted differences. The case of MIME tokens is folded everywhere (fold_structure): BODY/BODYSTRUCTURE
# media types, subtypes, parameter names, the charset value, transfer encodings and disposition types are
# compared case-insensitively (docs/IMAP.md "Differences from Dovecot", "Case of MIME tokens").
#
# Everything else is per answer: ALLOWED maps (corpus file, FETCH item) or ("SEARCH", key) to the causes
# that explain its difference. Each cause (CAUSES, below the FETCH helpers) is a paragraph of
# docs/IMAP.md "Differences from Dovecot" and a function that removes exactly that difference from the
# two answers, checking that each side follows the rule the paragraph describes; the answers must then be
# equal. An entry whose answers are equal without it fails the test (remove it).
LINES = "Line counts"                      # body-fld-lines of a part whose last line has no line break
DEFAULT_CHARSET = "Implicit charset"       # Dovecot adds ("charset" "us-ascii") to text parts without one
MESSAGE_END = "End of an attached message"  # Dovecot gives a message/rfc822 part the CRLF of the boundary
HEADER_NO_BLANK = "Header fetches of a message without a blank line"
COMMENT_NAME = "A comment before a bare address"
UNKNOWN_CHARSET_WORD = "Encoded words in an unknown charset"
NO_DATE = "SENT* without a Date field"
BINARY_NESTED = "BINARY of an attached message"

_STRUCTURE = (LINES, DEFAULT_CHARSET)
ALLOWED = {
    ("8bit-nocharset.eml", "BODY"): (DEFAULT_CHARSET,),
    ("8bit-nocharset.eml", "BODYSTRUCTURE"): (DEFAULT_CHARSET,),
    ("alternative.eml", "BODY"): (LINES,),
    ("alternative.eml", "BODYSTRUCTURE"): (LINES,),
    ("broken.eml", "BODY"): _STRUCTURE,
    ("broken.eml", "BODYSTRUCTURE"): _STRUCTURE,
    ("digest.eml", "BODY"): (LINES,),
    ("digest.eml", "BODYSTRUCTURE"): (LINES,),
    ("groups.eml", "ENVELOPE"): (COMMENT_NAME,),
    ("groups.eml", f"BODY[HEADER.FIELDS ({HEADER_FIELDS})]"): (HEADER_NO_BLANK,),
    ("header-only.eml", f"BODY[HEADER.FIELDS ({HEADER_FIELDS})]"): (HEADER_NO_BLANK,),
    ("lf-only.eml", "BODY"): _STRUCTURE,
    ("lf-only.eml", "BODYSTRUCTURE"): _STRUCTURE,
    ("message-rfc822.eml", "BODY"): (LINES, MESSAGE_END),
    ("message-rfc822.eml", "BODYSTRUCTURE"): (LINES, MESSAGE_END),
    ("message-rfc822.eml", "BODY[2]"): (MESSAGE_END,),
    ("message-rfc822.eml", "BODY[2.TEXT]"): (MESSAGE_END,),
    ("message-rfc822.eml", "BINARY[2]"): (MESSAGE_END,),
    ("message-rfc822.eml", "BINARY.SIZE[2]"): (MESSAGE_END,),
    ("nested.eml", "BINARY[3]"): (BINARY_NESTED,),
    ("nested.eml", "BINARY.SIZE[3]"): (BINARY_NESTED,),
    ("nested.eml", "BODY"): _STRUCTURE,
    ("nested.eml", "BODYSTRUCTURE"): _STRUCTURE,
    ("odd-params.eml", "BODY"): (LINES,),
    ("odd-params.eml", "BODYSTRUCTURE"): (LINES,),
    ("rfc2231.eml", "BODY"): _STRUCTURE,
    ("rfc2231.eml", "BODYSTRUCTURE"): _STRUCTURE,
    ("smtputf8.eml", "BODY"): (LINES,),
    ("smtputf8.eml", "BODYSTRUCTURE"): (LINES,),
    ("unclosed-multipart.eml", "BODY"): _STRUCTURE,
    ("unclosed-multipart.eml", "BODYSTRUCTURE"): _STRUCTURE,
    ("SEARCH", "SUBJECT unknown charset"): (UNKNOWN_CHARSET_WORD,),
    ("SEARCH", "SENTBEFORE 1-Jan-2000"): (NO_DATE,),
    ("SEARCH", "SENTSINCE 1-Jan-2010"): (NO_DATE,),
}


class StreamIMAPClient(IMAPClient):
    """IMAPClient 4.1.0 sets a read timeout on the socket even in stream mode, where there is none."""

    def _set_read_timeout(self):
        if not self.stream:
            super()._set_read_timeout()


# --- the servers ---------------------------------------------------------------------------------------


DOVECOT_CONF = """\
protocols = imap
ssl = no
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
mail_location = maildir:{dir}/home/Maildir
# any uid and gid may read mail: the tests may run as a system user
first_valid_uid = 0
first_valid_gid = 0
"""


def dovecot_client(directory):
    """A pre-authenticated Dovecot `imap` session on stdin/stdout (its greeting is PREAUTH)."""
    directory = Path(directory)
    for sub in ("home", "run", "state"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    conf = directory / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(dir=directory))
    argv = ["env", "-i", f"USER={USER}", f"HOME={directory / 'home'}", "PATH=/usr/bin:/bin"]
    if os.geteuid() == 0:
        # "Mail access not allowed for root": run as nobody, in a directory nobody owns.
        os.chmod(directory, 0o755)
        shutil.chown(directory, "nobody", "nogroup")
        for path in directory.rglob("*"):
            shutil.chown(path, "nobody", "nogroup")
        argv += ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    argv += [DOVECOT_IMAP, "-c", str(conf)]
    command = " ".join(shlex.quote(a) for a in argv) + f" 2>>{shlex.quote(str(directory / 'stderr.log'))}"
    return StreamIMAPClient(command, stream=True, ssl=False)


def harness_client():
    command = " ".join(shlex.quote(p) for p in (str(HARNESS), USER, PASSWORD))
    c = StreamIMAPClient(command, stream=True, ssl=False)
    c.login(USER, PASSWORD)
    return c


def append_corpus(c):
    for i, name in enumerate(CORPUS_FILES):
        when = BASE_DATE + datetime.timedelta(days=i, minutes=7 * i)
        c.append("INBOX", (CORPUS / name).read_bytes(), flags=FLAG_SETS[i % len(FLAG_SETS)], msg_time=when)
    info = c.select_folder("INBOX")
    assert info[b"EXISTS"] == len(CORPUS_FILES)


@pytest.fixture(scope="module")
def dovecot():
    directory = tempfile.mkdtemp(prefix="petrel-dovecot-")   # not under pytest's tmp dirs (mode 700)
    c = dovecot_client(directory)
    try:
        append_corpus(c)
        yield c
    finally:
        try:
            c.logout()
        except Exception:
            pass
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module", params=["harness", "serve-sqlite", "serve-postgresql"])
def petrel(request, tmp_path_factory):
    if request.param == "harness":
        if not HARNESS.exists():
            pytest.fail(f"{HARNESS} is not built (swift build --product IMAPStdioHarness)", pytrace=False)
        c = harness_client()
        append_corpus(c)
        yield c
        c.logout()
        return
    data_dir = tmp_path_factory.mktemp("diff") / "data"
    data_dir.mkdir()
    extra = ""
    if request.param == "serve-postgresql":
        require_peer("postgresql")
        cluster = request.getfixturevalue("cluster")
        cluster.psql("CREATE DATABASE dovecotdiff")
        extra = cluster.store_section(database="dovecotdiff")
    srv = PetrelServer(data_dir, extra_config=extra)
    srv.write_config()
    config_cli(srv.config_path, "domain", "add", "example.test")
    config_cli(srv.config_path, "mailbox", "add", USER, "--password-stdin", input_text=PASSWORD + "\n")
    srv.start()
    try:
        ports, reason = srv.imap_ports()
        assert ports is not None, reason
        c = IMAPClient("127.0.0.1", port=ports[0], ssl=False, timeout=30)
        c.login(USER, PASSWORD)
        append_corpus(c)
        yield c
        c.logout()
    finally:
        srv.stop()
        srv.kill()


# --- FETCH ---------------------------------------------------------------------------------------------


def part_paths(structure, prefix=""):
    """Section paths of every part in a parsed BODYSTRUCTURE (IMAPClient's tuples), with its kind:
    "leaf", "message" (message/rfc822: HEADER/TEXT exist) or "multipart"."""
    paths = []
    if isinstance(structure[0], (list, tuple)) and structure and not isinstance(structure[0], bytes):
        for i, part in enumerate(structure[0], 1):
            number = f"{prefix}{i}"
            paths += part_paths_of_part(part, number)
        return paths
    return part_paths_of_part(structure, (prefix or "") + "1", top=not prefix)


def part_paths_of_part(part, number, top=False):
    if isinstance(part[0], (list, tuple)):                 # a multipart inside a multipart
        return [(number, "multipart")] + part_paths(part, number + ".")
    paths = [(number, "leaf")]
    kind = (part[0] or b"").lower(), (part[1] or b"").lower()
    if kind == (b"message", b"rfc822") and len(part) > 8 and isinstance(part[8], tuple):
        paths = [(number, "message")]
        inner = BodyData.create(part[8])
        if isinstance(inner[0], (list, tuple)):
            paths += part_paths(inner, number + ".")
        else:
            paths += part_paths_of_part(inner, number + ".1")
    return paths


def normalise_key(key):
    text = key.decode() if isinstance(key, bytes) else key
    return re.sub(r"\s+", " ", text.upper()).replace("BODY.PEEK[", "BODY[")


def lower(value):
    return value.lower() if isinstance(value, bytes) else value


def lower_params(params):
    """A parameter list (name value name value ...): names lower-cased, and the value of charset."""
    if not isinstance(params, tuple):
        return params
    out = []
    for i in range(0, len(params) - 1, 2):
        name = lower(params[i])
        out += [name, lower(params[i + 1]) if name == b"charset" else params[i + 1]]
    return tuple(out)


def fold_structure(part):
    """BODY/BODYSTRUCTURE with the case-insensitive MIME tokens lower-cased ("Case of MIME tokens")."""
    if not isinstance(part, tuple) or not part:
        return part
    if isinstance(part[0], (list, tuple)):                 # multipart: parts, subtype, [params, dsp, ...]
        parts = [fold_structure(p) for p in part[0]]
        rest = list(part[1:])
        if rest:
            rest[0] = lower(rest[0])
        if len(rest) > 1:
            rest[1] = lower_params(rest[1])
        if len(rest) > 2 and isinstance(rest[2], tuple) and rest[2]:
            rest[2] = (lower(rest[2][0]), lower_params(rest[2][1]) if len(rest[2]) > 1 else None)
        return (parts, *rest)
    fields = list(part)
    fields[0], fields[1] = lower(fields[0]), lower(fields[1])
    fields[2] = lower_params(fields[2])
    if len(fields) > 5:
        fields[5] = lower(fields[5])
    kind = (fields[0], fields[1])
    if kind == (b"message", b"rfc822") and len(fields) > 8:
        fields[8] = fold_structure(tuple(BodyData.create(fields[8])))
        extension = 11       # md5 is 10, disposition 11
    elif fields[0] == b"text":
        extension = 9        # lines 7, md5 8, disposition 9
    else:
        extension = 8        # md5 7, disposition 8
    if len(fields) > extension and isinstance(fields[extension], tuple) and fields[extension]:
        dsp = fields[extension]
        fields[extension] = (lower(dsp[0]), lower_params(dsp[1]) if len(dsp) > 1 else None)
    return tuple(fields)


def fetch(c, seq, items):
    answer = c.fetch([seq], items)[seq]
    out = {}
    for key, value in answer.items():
        key = normalise_key(key)
        if key == "SEQ":
            continue
        if key == "FLAGS":
            value = tuple(sorted(f for f in value if f.lower() != b"\\recent"))
        if key in ("BODY", "BODYSTRUCTURE"):
            value = fold_structure(tuple(value))
        out[key] = value
    return out


def section_items(structure):
    items = ["BODY.PEEK[]", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]",
             f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]", f"BODY.PEEK[HEADER.FIELDS.NOT ({HEADER_FIELDS_NOT})]"]
    for path, kind in part_paths(structure):
        items.append(f"BODY.PEEK[{path}]")
        items.append(f"BODY.PEEK[{path}.MIME]")
        if kind == "message":
            items.append(f"BODY.PEEK[{path}.HEADER]")
            items.append(f"BODY.PEEK[{path}.TEXT]")
    return items


BASIC_ITEMS = ["ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.SIZE", "INTERNALDATE", "FLAGS"]


def listify(value):
    """Tuples (and BodyData) as lists, all the way down, so the normalisers can edit them in place."""
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields") and not hasattr(value, "__dataclass_fields__"):
        return [listify(v) for v in value]
    return value


def leaves(structure, prefix=""):
    """(section path, part fields) of every non-multipart part of a listified, folded BODY/BODYSTRUCTURE,
    encapsulated messages included."""
    if isinstance(structure[0], list) and structure[0] and isinstance(structure[0][0], list):
        for i, part in enumerate(structure[0], 1):
            yield from leaves_of(part, f"{prefix}{i}")
    else:
        yield from leaves_of(structure, prefix + "1")


def leaves_of(part, number):
    if isinstance(part[0], list):                           # a multipart inside a multipart
        yield from leaves(part, number + ".")
        return
    yield number, part
    if (part[0], part[1]) == (b"message", b"rfc822") and len(part) > 8 and isinstance(part[8], list):
        inner = part[8]
        if isinstance(inner[0], list):
            yield from leaves(inner, number + ".")
        else:
            yield from leaves_of(inner, number + ".1")


def lines_index(part):
    kind = (part[0], part[1])
    if kind == (b"message", b"rfc822"):
        return 9
    return 7 if part[0] == b"text" else None


def fix_lines(dv_all, pt_all, dv, pt):
    """LINES: Dovecot counts the line breaks of the part's octets, Petrel its text lines (a last line
    without a line break counts too). Checked on each side's own BODY[p], then both set to None."""
    for (path, d), (path2, p) in zip(leaves(dv), leaves(pt)):
        i = lines_index(d)
        if path != path2 or i is None or lines_index(p) != i or len(d) <= i or len(p) <= i:
            continue
        d_body, p_body = dv_all.get(f"BODY[{path}]"), pt_all.get(f"BODY[{path}]")
        if d_body is None or p_body is None:
            continue
        partial = 1 if p_body and not p_body.endswith(b"\n") else 0
        if d[i] == d_body.count(b"\n") and p[i] == p_body.count(b"\n") + partial:
            d[i] = p[i] = None


def fix_default_charset(dv_all, pt_all, dv, pt):
    """DEFAULT_CHARSET: a text part whose Content-Type has no charset parameter: Dovecot adds
    ("charset" "us-ascii") at the end of the parameters (or as the only one), Petrel reports what is written."""
    for (path, d), (_, p) in zip(leaves(dv), leaves(pt)):
        if d[0] != b"text" or p[0] != b"text":
            continue
        p_params = p[2] or []
        if b"charset" in p_params[0::2]:
            continue
        d_params = d[2] or []
        if d_params[-2:] == [b"charset", b"us-ascii"]:
            d[2] = d_params[:-2] or None


def fix_message_end(dv_all, pt_all, dv, pt):
    """MESSAGE_END: Dovecot's message/rfc822 part (BODY[p], BODY[p.TEXT], its size) also holds the CRLF
    that comes before the next boundary delimiter; Petrel leaves it to the delimiter (RFC 2046 §5.1.1)."""
    if isinstance(dv, bytes):
        return dv[:-2] if isinstance(pt, bytes) and dv == pt + b"\r\n" else dv, pt
    if isinstance(dv, int):                          # BINARY.SIZE
        return (pt if isinstance(pt, int) and dv == pt + 2 else dv), pt
    for (path, d), (_, p) in zip(leaves(dv), leaves(pt)):
        if (d[0], d[1]) == (b"message", b"rfc822") and (p[0], p[1]) == (b"message", b"rfc822"):
            if dv_all.get(f"BODY[{path}]") == pt_all.get(f"BODY[{path}]", b"") + b"\r\n" and d[6] == p[6] + 2:
                d[6] = p[6]
    return dv, pt


def fix_binary_nested(dv_all, pt_all, dv, pt):
    """BINARY_NESTED: for a message/rfc822 part Dovecot also decodes the parts inside the attached message
    (and labels them `Content-Transfer-Encoding: binary`); Petrel decodes only the part's own encoding,
    which for message/rfc822 is the identity, so it gives the attached message as stored (RFC 3516 §4.2)."""
    stored = pt_all.get("stored")
    if isinstance(pt, bytes) and pt == stored and b"Content-Transfer-Encoding: binary" in dv:
        return pt, pt
    if isinstance(pt, int) and stored is not None and pt == len(stored) and isinstance(dv, int):
        return pt, pt
    return dv, pt


def structure_fixer(function):
    def fix(dv_all, pt_all, dv, pt):
        function(dv_all, pt_all, dv, pt)
        return dv, pt
    return fix


def fix_header_no_blank(dv_all, pt_all, dv, pt):
    """HEADER_NO_BLANK: for a message without a blank line after its header, Dovecot adds one to
    BODY[HEADER.FIELDS (...)] (not to HEADER or HEADER.FIELDS.NOT); Petrel never does (RFC 3501 §6.4.5)."""
    header = dv_all.get("BODY[HEADER]", b"")
    blank_line = header in (b"\r\n", b"\n") or header.endswith((b"\n\r\n", b"\n\n"))
    if dv == pt + b"\r\n" and not blank_line and header == pt_all.get("BODY[HEADER]"):
        return pt, pt
    return dv, pt


def fix_comment_name(dv_all, pt_all, dv, pt):
    """COMMENT_NAME: `(Name) local@domain`: Petrel takes the comment for the name, Dovecot has NIL."""
    def names(envelope):
        return [[(a.mailbox, a.host) for a in (getattr(envelope, f) or ())] for f in ("from_", "sender", "reply_to", "to", "cc", "bcc")]
    if names(dv) != names(pt):
        return dv, pt
    fields = {}
    for f in ("from_", "sender", "reply_to", "to", "cc", "bcc"):
        d_list, p_list = getattr(dv, f) or (), getattr(pt, f) or ()
        fields[f] = tuple(dataclasses.replace(p, name=None) if d.name is None and p.name is not None
                          and b"(" + p.name + b")" in dv_all.get("BODY[HEADER]", b"") else p
                          for d, p in zip(d_list, p_list)) or getattr(pt, f)
    return dv, dataclasses.replace(pt, **fields)


def without(names):
    def fix(dv_all, pt_all, dv, pt):
        return [n for n in dv if n not in names], [n for n in pt if n not in names]
    return fix


def has_date(name):
    header = (CORPUS / name).read_bytes().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return re.search(rb"(?im)^date:", header) is not None


CAUSES = {
    LINES: structure_fixer(fix_lines),
    DEFAULT_CHARSET: structure_fixer(fix_default_charset),
    MESSAGE_END: fix_message_end,
    HEADER_NO_BLANK: fix_header_no_blank,
    COMMENT_NAME: fix_comment_name,
    # Petrel decodes an encoded word in an unknown charset as UTF-8; Dovecot leaves it encoded.
    UNKNOWN_CHARSET_WORD: without({"encoded-words.eml"}),
    # Petrel uses the internal date when there is no Date field; Dovecot matches such a message as if sent
    # on 1-Jan-1970.
    NO_DATE: without({n for n in CORPUS_FILES if not has_date(n)}),
    BINARY_NESTED: fix_binary_nested,
}


def compare(key, dv_value, pt_value, dv_all=None, pt_all=None):
    """None when the answers agree (after the causes ALLOWED names for `key`), else a failure line."""
    allowed = ALLOWED.get(key, ())
    if dv_value == pt_value:
        if allowed:
            return f"{key}: in ALLOWED but the answers are the same; remove it (and its docs paragraph if unused)"
        return None
    d, p = listify(dv_value), listify(pt_value)
    for cause in allowed:
        d, p = CAUSES[cause](dv_all or {}, pt_all or {}, d, p)
    if d == p:
        return None
    pad = " " * (len(str(key)) + 2)
    note = f" (after {', '.join(allowed)})" if allowed else ""
    return f"{key}{note}: dovecot {d!r}\n{pad}petrel  {p!r}"


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_fetch_matches_dovecot(name, dovecot, petrel):
    seq = CORPUS_FILES.index(name) + 1
    dv = fetch(dovecot, seq, BASIC_ITEMS)
    pt = fetch(petrel, seq, BASIC_ITEMS)
    items = section_items(dv["BODYSTRUCTURE"])
    items += [i for i in section_items(pt["BODYSTRUCTURE"]) if i not in items]
    dv.update(fetch(dovecot, seq, items))
    pt.update(fetch(petrel, seq, items))
    failures = [compare((name, key), dv.get(key), pt.get(key), dv, pt) for key in sorted(set(dv) | set(pt))]
    failures += [f"{k}: in ALLOWED but never fetched" for k in ALLOWED
                 if k[0] == name and not k[1].startswith("BINARY") and k[1] not in dv]
    failures = [f for f in failures if f]
    assert not failures, "differences from Dovecot:\n" + "\n".join(failures)


# --- BINARY (RFC 3516) ---------------------------------------------------------------------------------


def binary_answer(c, seq, item):
    """The value of one BINARY item as the octets on the wire — through IMAPClient's imaplib, whose literal
    rule also reads a literal8 (`~{n}`, which IMAPClient's own parser does not take apart) — or the
    server's refusal (NO [UNKNOWN-CTE], …) as its response code."""
    typ, data = c._imap.fetch(str(seq), f"({item})")
    if typ != "OK":
        text = b" ".join(d if isinstance(d, bytes) else d[0] for d in data if d).decode(errors="replace")
        return ("refused", re.search(r"\[([A-Z-]+)", text).group(1) if "[" in text else text)
    first = data[0]
    if isinstance(first, tuple):                     # (b'1 (BINARY[1] ~{30}', octets)
        return first[1]
    match = re.search(rb"(?:BINARY|BINARY\.SIZE)\[[^\]]*\] (NIL|\d+)", first)
    return match.group(1) if match else first


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_binary_matches_dovecot(name, dovecot, petrel):
    """BINARY.PEEK[part] and BINARY.SIZE[part] of every part but multiparts (RFC 3516): the decoded
    octets (base64, quoted-printable, 7bit/8bit/binary) and their count must be Dovecot's, or differ only
    as ALLOWED says."""
    seq = CORPUS_FILES.index(name) + 1
    structure = fetch(dovecot, seq, ["BODYSTRUCTURE"])["BODYSTRUCTURE"]
    failures, fetched = [], set()
    for path, kind in part_paths(structure):
        if kind == "multipart":
            continue
        stored = {"stored": binary_answer(petrel, seq, f"BODY.PEEK[{path}]")}
        for item, key in ((f"BINARY.PEEK[{path}]", f"BINARY[{path}]"), (f"BINARY.SIZE[{path}]", f"BINARY.SIZE[{path}]")):
            dv, pt = binary_answer(dovecot, seq, item), binary_answer(petrel, seq, item)
            if key.startswith("BINARY.SIZE"):
                dv, pt = (int(v) if isinstance(v, bytes) and v.isdigit() else v for v in (dv, pt))
            fetched.add(key)
            failures.append(compare((name, key), dv, pt, {}, stored))
    failures += [f"{k}: in ALLOWED but never fetched" for k in ALLOWED
                 if k[0] == name and k[1].startswith("BINARY") and k[1] not in fetched]
    failures = [f for f in failures if f]
    assert not failures, "differences from Dovecot:\n" + "\n".join(failures)


# --- SEARCH --------------------------------------------------------------------------------------------

# (criteria as IMAPClient takes them, charset). UTF-8 needles go as literals after CHARSET UTF-8.
SEARCHES = [
    (["ALL"], None),
    (["FROM", "example.test"], None),
    (["FROM", "carol"], None),                      # only inside an attached message/rfc822
    (["FROM", "Clémence"], "UTF-8"),               # an encoded word in From
    (["FROM", "jürgen"], "UTF-8"),                 # raw UTF-8 (SMTPUTF8) address
    (["FROM", "größe.example"], "UTF-8"),
    (["TO", "andré"], "UTF-8"),
    (["TO", "例え"], "UTF-8"),
    (["CC", "François Martin"], "UTF-8"),          # two adjacent encoded words
    (["BCC", "hidden"], None),
    (["SUBJECT", "quarterly"], None),
    (["SUBJECT", "café crème"], "UTF-8"),
    (["SUBJECT", "über"], "UTF-8"),
    (["SUBJECT", "Ärger"], "UTF-8"),
    (["SUBJECT", "grüße"], "UTF-8"),
    (["SUBJECT", "=?utf-8?"], None),                # the encoded form itself
    (["SUBJECT", "unknown charset"], None),
    (["TEXT", "forwarded-needle"], None),
    (["BODY", "forwarded-needle"], None),
    (["BODY", "Revenue"], None),
    (["TEXT", "needle-inside"], None),
    (["BODY", "Straße"], "UTF-8"),                 # in a base64 body
    (["BODY", "Schöne"], "UTF-8"),                 # Latin-1 qp, UTF-8 8bit, and 8-bit without charset
    (["BODY", "Café"], "UTF-8"),
    (["BODY", "€"], "UTF-8"),
    (["BODY", "你好世界"], "UTF-8"),
    (["BODY", "quick brown"], None),
    (["TEXT", "Carol"], None),
    (["TEXT", "Überweisung"], "UTF-8"),
    (["HEADER", "Content-Type", "mixed"], None),
    (["HEADER", "Message-ID", ""], None),
    (["HEADER", "X-Missing", ""], None),
    (["HEADER", "Keywords", "grün"], "UTF-8"),
    (["HEADER", "Content-Disposition", "attachment"], None),
    (["LARGER", "500"], None),
    (["SMALLER", "300"], None),
    (["LARGER", "400", "SMALLER", "700"], None),
    (["SENTBEFORE", "1-Jan-2000"], None),
    (["SENTSINCE", "1-Jan-2010"], None),
    (["SENTON", "7-Feb-1994"], None),
    (["SENTON", "15-Nov-2020"], None),              # -1000: 16-Nov in UTC, 15-Nov as written
    (["BEFORE", "7-Mar-2021"], None),
    (["SINCE", "15-Mar-2021"], None),
    (["OR", "FROM", "bob", "SUBJECT", "nested"], None),
    (["NOT", "BODY", "the"], None),
    (["OR", "SEEN", "FLAGGED", "NOT", "ANSWERED"], None),
    (["KEYWORD", "$Label1"], None),
    (["NOT", "OR", "HEADER", "MIME-Version", "", "SMALLER", "250"], None),
]


def search_id(criteria, charset):
    return " ".join(criteria) + (f" [{charset}]" if charset else "")


@pytest.mark.parametrize("criteria,charset", SEARCHES, ids=[search_id(*s) for s in SEARCHES])
def test_search_matches_dovecot(criteria, charset, dovecot, petrel):
    dv = sorted(dovecot.search(criteria, charset=charset))
    pt = sorted(petrel.search(criteria, charset=charset))
    names = lambda ids: [CORPUS_FILES[i - 1] for i in ids]  # noqa: E731
    failure = compare(("SEARCH", search_id(criteria, charset)), names(dv), names(pt))
    assert failure is None, "differences from Dovecot:\n" + failure
