"""Load ESCU content (detections, macros, stories, lookups) from the built-in tree and user folders.

A content folder has security_content's layout: ``detections/**/*.yml``, ``macros/*.yml``,
``stories/*.yml``, ``lookups/*.csv`` (plus optional ``lookups/*.yml`` definitions). The built-in tree
ships inside the package (``escudo/content/builtin``); user folders given with ``--content`` are read
after it, and later folders win by detection name and by macro key.

>>> content = load_content()
>>> "Linux Ngrok Reverse Proxy Usage" in content.detections
True
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from escudo.content.model import ContentSet, Detection, Macro, Story
from escudo.content.schemas import detection_from_doc
from escudo.content.yamlfile import LineDict, LineList, load_yaml_file
from escudo.errors import ContentError, InputError

BUILTIN_DIR = Path(__file__).parent / "builtin"

# contentctl creates every detection's filter macro with this body (detection_abstract.py,
# getDetectionMacros; escu-semantics.md section 1).
DEFAULT_FILTER_DEFINITION = "search *"


def load_detection(path: Path) -> Detection:
    """Read one detection YAML file (any of the three schemas).

    >>> load_detection(BUILTIN_DIR / "detections/endpoint/linux_ngrok_reverse_proxy_usage.yml").version
    4
    """
    return detection_from_doc(load_yaml_file(path), str(path), path)


def load_macro(path: Path) -> Macro:
    """Read one ``macros/*.yml`` file (``name``, ``definition``, optional ``arguments``).

    >>> load_macro(BUILTIN_DIR / "macros" / "security_content_ctime.yml").key
    'security_content_ctime(1)'
    """
    doc = load_yaml_file(path)
    for key in ("name", "definition"):
        if key not in doc or doc[key] is None or isinstance(doc[key], dict | list):
            raise ContentError(
                f"macro needs a string {key!r}", path=str(path), line=doc.line_of(key)
            )
    arguments = doc.get("arguments") or ()
    if not isinstance(arguments, list | tuple):
        raise ContentError(
            "'arguments' must be a list", path=str(path), line=doc.line_of("arguments")
        )
    return Macro(
        name=str(doc["name"]),
        definition=str(doc["definition"]),
        arguments=tuple(str(a) for a in arguments),
        description=str(doc.get("description") or ""),
        path=path,
    )


def load_story(path: Path) -> Story:
    """Read one ``stories/*.yml`` file.

    >>> load_story(BUILTIN_DIR / "stories" / "reverse_network_proxy.yml").name
    'Reverse Network Proxy'
    """
    doc = load_yaml_file(path)
    if not isinstance(doc.get("name"), str):
        raise ContentError("story needs a string 'name'", path=str(path), line=doc.line_of("name"))
    return Story(
        name=doc["name"],
        id=str(doc.get("id") or ""),
        description=str(doc.get("description") or ""),
        narrative=str(doc.get("narrative") or ""),
        path=path,
    )


def _lookups(folder: Path) -> dict[str, Path]:
    """CSV lookups by file name and stem, plus ``lookups/*.yml`` definitions (``name`` -> ``filename``).

    Every file stays inside ``folder``: a ``filename:`` that is absolute or holds ``..``, or a CSV
    that is a symlink leading out of ``folder``, is a :class:`ContentError` naming the file, its
    line and the value (Splunk reads a lookup only from its app's ``lookups/``).
    """
    out: dict[str, Path] = {}
    for csv in sorted(folder.glob("*.csv")):
        _inside_lookups(folder, csv, str(csv), None, csv.name)
        out[csv.stem] = csv
        out[csv.name] = csv
    for yml in sorted(folder.glob("*.yml")):
        doc = load_yaml_file(yml)
        name, filename = doc.get("name"), doc.get("filename")
        if not isinstance(name, str):
            raise ContentError("lookup needs a string 'name'", path=str(yml), line=doc.line)
        if isinstance(filename, str):  # KV-store and MLTK lookups have no file; skip them
            line = doc.line_of("filename")
            relative = PurePosixPath(filename)
            if not filename or relative.is_absolute() or filename.startswith("~"):
                raise _refused(filename, "an absolute path", yml, line)
            if ".." in relative.parts:
                raise _refused(filename, "'..' leaves lookups/", yml, line)
            if any(ord(ch) < 32 for ch in filename):
                raise _refused(filename, "a control character in the name", yml, line)
            target = folder / relative
            if not is_file(target):
                raise ContentError(f"lookup file {filename!r} not found", path=str(yml), line=line)
            _inside_lookups(folder, target, str(yml), line, filename)
            out[name] = target
    return out


def _refused(value: str, reason: str, path: Path | str, line: int | None) -> ContentError:
    return ContentError(f"lookup file {value!r} is refused: {reason}", path=str(path), line=line)


def _inside_lookups(folder: Path, target: Path, path: str, line: int | None, value: str) -> None:
    """Refuse ``target`` when it resolves (through symlinks) outside ``folder``."""
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a symlink loop
        raise _refused(value, "a symlink loop", path, line) from None
    if not resolved.is_relative_to(folder.resolve()):
        raise _refused(value, f"a symlink leading out of {folder}", path, line)


def _yaml_files(folder: Path, pattern: str) -> Iterable[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else ()


def load_folder(folder: Path, into: ContentSet) -> None:
    """Add one content folder to ``into`` (its entries replace same-named ones).

    >>> content = ContentSet()
    >>> load_folder(BUILTIN_DIR, content)
    >>> "linux_shells" in content.macros
    True
    """
    if not folder.is_dir():
        raise InputError(f"content folder not found: {folder}")
    seen: dict[str, Path] = {}
    for path in _yaml_files(folder, "detections/**/*.yml"):
        detection = load_detection(path)
        if detection.name in seen:
            raise ContentError(
                f"detection {detection.name!r} is also defined in {seen[detection.name]}",
                path=str(path),
                line=1,
            )
        seen[detection.name] = path
        into.detections[detection.name] = detection
    for path in _yaml_files(folder, "macros/*.yml"):
        macro = load_macro(path)
        into.macros[macro.key] = macro
    for path in _yaml_files(folder, "stories/*.yml"):
        story = load_story(path)
        into.stories[story.name] = story
    if (folder / "lookups").is_dir():
        into.lookups.update(_lookups(folder / "lookups"))


def load_content(dirs: Sequence[Path] = (), *, builtin: bool = True) -> ContentSet:
    """The built-in content (unless ``builtin=False``) overlaid by each folder of ``dirs`` in order.

    >>> sorted(load_content().macros)[:2]
    ['fillnull_config', 'linux_shells']
    """
    content = ContentSet()
    for folder in ([BUILTIN_DIR] if builtin else []) + [Path(d) for d in dirs]:
        load_folder(folder, content)
    return content


def macros_for(
    content: ContentSet, detection: Detection | None = None, *, user_filter: bool = True
) -> dict[str, Macro]:
    """The macros a search sees: the content's macros plus the detection's default filter macro.

    The filter macro is the user's ``<name>_filter`` when some content folder defines it (and
    ``user_filter``), else contentctl's default ``search *`` (what ``contentctl test`` runs with).

    >>> macros_for(ContentSet(), Detection(name="A b", id="1", search="")).get("a_b_filter").definition
    'search *'
    """
    macros = dict(content.macros)
    if detection is not None and (not user_filter or detection.filter_macro not in macros):
        name = detection.filter_macro
        macros[name] = Macro(name=name, definition=DEFAULT_FILTER_DEFINITION)
    return macros


def is_file(path: Path) -> bool:
    """``path.is_file()``, but False (not an OSError) for a name the system refuses, such as one
    longer than 255 bytes (``ENAMETOOLONG``): a long search given where a name or file is expected.

    >>> is_file(Path("x" * 300))
    False
    """
    try:
        return path.is_file()
    except OSError:
        return False


def resolve_detection(content: ContentSet, ref: str) -> Detection:
    """A detection by name (exact, then case-insensitive), by id, or by YAML file path.

    >>> resolve_detection(load_content(), "bc84d574-708c-467d-b78a-4c1e20171f97").name
    'Linux Ngrok Reverse Proxy Usage'
    """
    if ref in content.detections:
        return content.detections[ref]
    for detection in content.detections.values():
        if detection.name.lower() == ref.lower() or detection.id.lower() == ref.lower():
            return detection
    path = Path(ref)
    if ref.endswith((".yml", ".yaml")) or is_file(path):
        if not is_file(path):
            raise InputError(f"detection file not found: {ref}")
        resolved = path.resolve()
        for detection in content.detections.values():
            if detection.path is not None and detection.path.resolve() == resolved:
                return detection
        return load_detection(path)
    close = difflib.get_close_matches(ref, list(content.detections), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise InputError(f"no detection named or with id {ref!r}{hint}")


__all__ = [
    "BUILTIN_DIR",
    "DEFAULT_FILTER_DEFINITION",
    "LineDict",
    "LineList",
    "is_file",
    "load_content",
    "load_detection",
    "load_folder",
    "load_macro",
    "load_story",
    "macros_for",
    "resolve_detection",
]
