"""The DVC adapter: the only module (with its error mapper) that drives DVC.

Every operation opens a fresh :class:`dvc.repo.Repo` and closes it, so no DVC
state (index, locks, open sqlite handles) outlives a call and plain ``dvc``
commands can run between two calls. On first use the repository is
initialised and the project's remote configured (see :mod:`.remote`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from dvc.config import Config
from dvc.repo import Repo, lock_repo
from dvc.scm import SCM, SCMError
from scmrepo.exceptions import SCMError as ScmrepoError

from mlops.config import Settings
from mlops.errors import (
    ConfigurationError,
    OperationTimeoutError,
    redact,
    translate_errors,
)
from mlops.versioning import _paths, _results
from mlops.versioning._dvc_errors import DVC_ERRORS
from mlops.versioning.remote import CREDENTIAL_KEYS, RemoteSpec, names_remote, remote_spec
from mlops.workspace import make_dir

__all__ = ["DVCVersioner"]

_DVC_LOGGER = logging.getLogger("dvc")
_DVCIGNORE_LINE = "/.mlops/"
# One init at a time per process: init is not idempotent under a race.
_INIT_LOCK = threading.Lock()


class DVCVersioner:
    """Versions data of one project with DVC in the project's repository.

    Args:
        settings: The project's settings (``root``, ``data`` section).

    Example:
        >>> v = DVCVersioner(settings)              # doctest: +SKIP
        >>> v.add("data/train.csv")["md5"]          # doctest: +SKIP
        'a3f1...'
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.root.resolve()
        self.spec: RemoteSpec = remote_spec(settings)
        self._configured = False

    # -- public operations -------------------------------------------------------------

    def add(self, path: str | Path, recursive: bool = False) -> dict[str, Any]:
        """Track ``path`` (a file or folder) and return its data version.

        ``recursive=True`` tracks every file under the folder separately; the
        result then lists them under ``files``.
        """
        target = _paths.resolve_target(self.root, path, "dvc_add")
        self._reject_git_tracked(target)
        files = _paths.files_under(target) if recursive else [target]
        with self._repo("dvc_add") as repo:
            stages = repo.add([str(f) for f in files])
            versions = [self._version_of_stage(stage) for stage in stages]
            rev = _git_rev(repo)
        for version in versions:
            version["rev"] = rev
        return versions[0] if not recursive else self._folder_summary(target, versions)

    def push(
        self, targets: Sequence[str | Path] | None = None, remote: str | None = None
    ) -> dict[str, Any]:
        """Upload the cache objects of ``targets`` (default: everything tracked) to the remote."""
        name = remote or self.spec.name
        paths = self._targets(targets, "dvc_push")
        with self._repo("dvc_push", name) as repo:
            url = self._probe(repo, name)
            # One lock around both: DVC rebuilds its index at every outermost lock.
            with lock_repo(repo):
                todo = self._missing_on_remote(repo, paths, name)
                pushed = repo.push(targets=paths, remote=name, jobs=self.settings.data.jobs)
        size = sum(_cache_size(repo, h) for h in todo)
        return {"remote": name, "url": url, "pushed": pushed, "bytes": size if pushed else 0}

    def pull(
        self,
        targets: Sequence[str | Path] | None = None,
        remote: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Download what ``targets`` need from the remote and check it out into the workspace."""
        name = remote or self.spec.name
        paths = self._targets(targets, "dvc_pull")
        with self._repo("dvc_pull", name) as repo:
            url = self._probe(repo, name)
            with lock_repo(repo):
                meter = _FetchMeter(
                    repo,
                    lambda: self._present_locally(repo, paths),
                    lambda: {v["md5"] for v in self._versions_for(repo, paths) if v["md5"]},
                )
                result = repo.pull(
                    targets=paths, remote=name, jobs=self.settings.data.jobs, force=force
                )
                fetched_bytes = meter.fetched_bytes()
                versions = self._versions_for(repo, paths)
        stats = result.get("stats", {})
        return {
            "remote": name,
            "url": url,
            "fetched": stats.get("fetched", 0),
            "bytes": fetched_bytes,
            # DVC lists the changed outputs beside its counts (stats holds only numbers).
            **{k: self._relative(result.get(k)) for k in ("added", "modified", "deleted")},
            "versions": versions,
        }

    def status(
        self,
        targets: Sequence[str | Path] | None = None,
        cloud: bool = True,
        remote: str | None = None,
    ) -> dict[str, Any]:
        """Workspace changes against the ``.dvc`` files; with ``cloud``, objects not pushed yet."""
        name = remote or self.spec.name
        paths = self._targets(targets, "dvc_status")
        with self._repo("dvc_status", name) as repo:
            local = repo.status(targets=paths)
            out: dict[str, Any] = {"modified": _results.flatten_local(local)}
            if cloud:
                out["url"] = self._probe(repo, name)
                out["remote"] = name
                out.update(
                    _results.cloud_counts(repo.status(targets=paths, cloud=True, remote=name))
                )
        out["clean"] = not out["modified"] and not out.get("new") and not out.get("missing")
        return out

    def tracked_version(self, path: str | Path) -> dict[str, Any] | None:
        """The version the ``.dvc`` file of ``path`` records; ``modified``: workspace differs."""
        target = self.root / _paths.relative(self.root, path)
        dvc_file = Path(f"{target}.dvc")
        if not dvc_file.is_file():
            return None
        with self._repo("dvc_status") as repo:
            (stage,) = repo.stage.collect(str(dvc_file))
            version = self._version_of_stage(stage)
            version["modified"] = bool(repo.status(targets=[str(dvc_file)]))
        return version

    # -- repository, init and configuration --------------------------------------------------

    def open_repo(self, operation: str = "dvc_repo") -> AbstractContextManager[Repo]:
        """DVC's ``Repo`` of this project, configured, opened fresh, closed on exit.

        The documented escape hatch behind ``client.dvc_repo()``.
        """
        return self._repo(operation)

    @contextmanager
    def _repo(self, operation: str, remote: str | None = None) -> Iterator[Repo]:
        mapper = DVC_ERRORS.bound(remote=self._describe(remote))
        with translate_errors("versioning", operation, mapper=mapper):
            self._ensure_configured()
            with self._quiet(), Repo(str(self.root), config=self._runtime_config()) as repo:
                _share_remotes(repo)
                yield repo

    def _ensure_configured(self) -> None:
        # Re-checked every call: someone may have removed .dvc/ between two calls.
        if self._configured and (self.root / ".dvc").is_dir():
            return
        with _INIT_LOCK:
            make_dir(self._site_cache_dir())  # and .mlops/ ignores itself
            if not (self.root / ".dvc").is_dir():
                self._init()
            # Config, not Repo: building a Repo would create the site cache before
            # core.site_cache_dir is set.
            self._configure(Config(str(self.root / ".dvc")))
            self._ignore_mlops_dir()
        self._configured = True

    def _init(self) -> None:
        subdir, no_scm = self._scm_layout()
        # Repo.init builds a Repo before our config exists; the env variable keeps
        # DVC's site cache out of the system temp folder during that one call.
        previous = os.environ.get("DVC_SITE_CACHE_DIR")
        os.environ["DVC_SITE_CACHE_DIR"] = str(self._site_cache_dir())
        try:
            with self._quiet():
                Repo.init(str(self.root), no_scm=no_scm, subdir=subdir).close()
        finally:
            if previous is None:
                os.environ.pop("DVC_SITE_CACHE_DIR", None)
            else:
                os.environ["DVC_SITE_CACHE_DIR"] = previous

    def _scm_layout(self) -> tuple[bool, bool]:
        """(subdir, no_scm) for ``Repo.init``: inside git when the root is in a git work tree."""
        try:
            scm = SCM(str(self.root), search_parent_directories=True)
        except SCMError:
            return False, True
        return Path(scm.root_dir).resolve() != self.root, False

    def _ignore_mlops_dir(self) -> None:
        """Keep DVC from walking ``.mlops/`` (the default remote and caches live there)."""
        dvcignore = self.root / ".dvcignore"
        text = dvcignore.read_text() if dvcignore.is_file() else ""
        if _DVCIGNORE_LINE not in text.splitlines():
            sep = "" if not text or text.endswith("\n") else "\n"
            dvcignore.write_text(f"{text}{sep}{_DVCIGNORE_LINE}\n")

    def _configure(self, config: Config) -> None:
        local = config.read("local")
        if local.get("core", {}).get("site_cache_dir") != str(self._site_cache_dir()):
            with config.edit("local") as conf:
                conf["core"]["site_cache_dir"] = str(self._site_cache_dir())
        committed = config.read("repo")
        self._reject_committed_credentials(committed)
        current = committed.get("remote", {}).get(self.spec.name)
        if current and not self._remote_configured():
            # A clone (or a teammate) without a remote setting of its own: the committed
            # entry is the team's truth; nothing committed is rewritten.
            self.spec = dataclasses.replace(self.spec, url=str(current.get("url", self.spec.url)))
        else:
            wanted = self.spec.committed_config()
            if current != wanted or not committed.get("core", {}).get("remote"):
                if not self.spec.is_s3:
                    self._drop_local_credentials(config)
                with config.edit("repo") as conf:
                    conf["remote"][self.spec.name] = wanted  # whole entry: no stale keys
                    conf["core"].setdefault("remote", self.spec.name)
        self._configure_secrets(config)

    def _remote_configured(self) -> bool:
        """True when this project's settings name its remote (file, environment, argument)."""
        return names_remote(self.settings)

    def _configure_secrets(self, config: Config) -> None:
        """The endpoint's credentials go to .dvc/config.local (git-ignored by DVC), after the
        committed entry exists (DVC validates a remote's levels together)."""
        secrets = self.spec.local_config()
        current = config.read("local").get("remote", {}).get(self.spec.name, {})
        if secrets and any(current.get(k) != v for k, v in secrets.items()):
            with config.edit("local") as conf:
                conf["remote"].setdefault(self.spec.name, {}).update(secrets)

    def _drop_local_credentials(self, config: Config) -> None:
        """Before the entry becomes a folder remote: S3 credentials left in .dvc/config.local
        would make DVC refuse the whole configuration ("extra keys not allowed")."""
        current = config.read("local").get("remote", {}).get(self.spec.name, {})
        if any(k in current for k in CREDENTIAL_KEYS):
            with config.edit("local") as conf:
                entry = conf["remote"][self.spec.name]
                for key in CREDENTIAL_KEYS:
                    entry.pop(key, None)
                if not entry:
                    del conf["remote"][self.spec.name]

    def _reject_committed_credentials(self, committed: dict[str, Any]) -> None:
        for name, conf in committed.get("remote", {}).items():
            leaked = sorted(k for k in CREDENTIAL_KEYS if k in conf)
            if leaked:
                raise ConfigurationError(
                    f"the committed .dvc/config holds credentials ({', '.join(leaked)}) "
                    f"for remote '{name}'",
                    component="versioning",
                    operation="configure",
                    hint=f"move them: `dvc remote modify --local {name} <key> <value>`, delete "
                    "them from .dvc/config (or use AWS_* environment variables)",
                )

    def _runtime_config(self) -> dict[str, Any]:
        extra = self.spec.runtime_config()
        return {"remote": {self.spec.name: extra}} if extra else {}

    def _site_cache_dir(self) -> Path:
        return self.settings.dvc_site_cache_dir

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        # DVC logs INFO chatter to stdout at import; a library must not print.
        # Its progress bars show only when the logger allows INFO.
        previous = _DVC_LOGGER.level
        _DVC_LOGGER.setLevel(logging.INFO if self.settings.data.progress else logging.WARNING)
        try:
            yield
        finally:
            _DVC_LOGGER.setLevel(previous)

    # -- helpers ---------------------------------------------------------------------------

    def _relative(self, paths: Any) -> list[str]:
        """DVC's paths (relative to the working directory, folders with a slash) as
        sorted paths relative to the repository root."""
        return sorted(
            os.path.relpath(os.path.abspath(p.rstrip("/")), self.root)
            for p in _results.as_paths(paths)
        )

    def _describe(self, remote: str | None) -> str:
        if remote is None or remote == self.spec.name:
            return self.spec.describe()
        return f"'{remote}'"

    def _probe(self, repo: Repo, name: str) -> str:
        """Fail fast, within ``data.timeout``, when the remote cannot be reached."""
        remote = repo.cloud.get_remote(name=name)
        url = redact(remote.fs.unstrip_protocol(remote.path))
        if remote.fs.protocol in ("local", "file"):
            return url
        outcome: dict[str, BaseException] = {}

        def probe() -> None:
            try:
                remote.fs.ls(remote.path, detail=False)
            except FileNotFoundError:
                pass  # reachable; the project's prefix appears on its first push
            except BaseException as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=probe, name="mlops-dvc-probe", daemon=True)
        worker.start()
        worker.join(self.settings.data.timeout)
        if worker.is_alive():
            raise OperationTimeoutError(
                f"remote '{name}' ({url}) did not answer within {self.settings.data.timeout:g}s",
                hint="check the endpoint URL and network, or raise data.timeout",
            )
        if "error" in outcome:
            raise outcome["error"]
        return url

    def _missing_on_remote(self, repo: Repo, paths: list[str] | None, name: str) -> set[Any]:
        used = repo.used_objs(paths, remote=name, force=True, push=True)
        ids = set().union(*(objs for odb, objs in used.items() if odb is None))
        if not ids:
            return set()
        odb = repo.cloud.get_remote_odb(name, "push")
        if odb.fs.protocol == "local":
            # A stat per object: several times cheaper than DVC's status machinery.
            return {h for h in ids if not os.path.exists(odb.oid_to_path(h.value))}
        return set(repo.cloud.status(ids, self.settings.data.jobs, remote=name).new)

    def _present_locally(self, repo: Repo, paths: list[str] | None) -> set[Any]:
        with _silenced():
            used = repo.used_objs(paths)
        ids = set().union(*(objs for odb, objs in used.items() if odb is None))
        return {h for h in ids if repo.cache.local.exists(h.value)}

    def _targets(
        self, targets: Sequence[str | Path] | str | Path | None, operation: str
    ) -> list[str] | None:
        if targets is None:
            return None
        items: Iterable[str | Path] = [targets] if isinstance(targets, str | Path) else targets
        return [str(_paths.resolve_tracked(self.root, t, operation)) for t in items]

    def _reject_git_tracked(self, target: Path) -> None:
        try:
            scm = SCM(str(self.root), search_parent_directories=True)
        except SCMError:
            return
        _paths.reject_if_git_tracked(scm.is_tracked(str(target)), self.root, target)

    def _version_of_stage(self, stage: Any) -> dict[str, Any]:
        out = stage.outs[0]
        meta = out.meta
        return {
            "path": _paths.relative(self.root, out.fs_path).as_posix(),
            "md5": out.hash_info.value,
            "size": meta.size,
            "nfiles": meta.nfiles if meta.isdir else 1,
            "dvc_file": _paths.relative(self.root, stage.path).as_posix(),
            "remote": redact(self.spec.url),
            "remote_name": self.spec.name,
        }

    def _versions_for(self, repo: Repo, paths: list[str] | None) -> list[dict[str, Any]]:
        if paths is None:
            stages = list(repo.index.stages)
        else:
            stages = [s for p in paths for s, _ in repo.stage.collect_granular(p)]
        rev = _git_rev(repo)
        unique = {s.path: s for s in stages if s.is_data_source}
        return [{**self._version_of_stage(s), "rev": rev} for s in unique.values()]

    def _folder_summary(self, folder: Path, versions: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "path": _paths.relative(self.root, folder).as_posix(),
            "md5": None,
            "size": sum(v["size"] or 0 for v in versions),
            "nfiles": len(versions),
            "dvc_file": None,
            "remote": redact(self.spec.url),
            "remote_name": self.spec.name,
            "rev": versions[0]["rev"] if versions else None,
            "files": versions,
        }


def _share_remotes(repo: Repo) -> None:
    """One DVC ``Remote`` per remote name for the life of ``repo`` (one operation).

    DVC builds a new one, with a new S3 client (botocore loads its service model
    again, ~0.1 s of CPU), at every call: for the reachability probe, then for every
    output of a pull or push. Within one operation they are all the same remote.
    """
    build = repo.cloud.get_remote
    made: dict[str, Any] = {}

    def get_remote(name: str | None = None, command: str = "<command>") -> Any:
        key = name or repo.config["core"].get("remote")
        if not key:
            return build(name=name, command=command)  # raises DVC's "no remote" error
        if key not in made:
            made[key] = build(name=name, command=command)
        return made[key]

    repo.cloud.get_remote = get_remote  # type: ignore[method-assign]


@contextmanager
def _silenced() -> Iterator[None]:
    previous = _DVC_LOGGER.level
    _DVC_LOGGER.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        _DVC_LOGGER.setLevel(previous)


def _git_rev(repo: Repo) -> str | None:
    try:
        rev = repo.scm.get_rev()
    except (SCMError, ScmrepoError):  # no git, or no commit yet
        return None
    return str(rev) if rev else None


class _FetchMeter:
    """The bytes a pull brought into the cache: the object files that appeared during it.

    The repository's own cache is listed before and after (a directory scan, far cheaper
    than DVC's ``used_objs`` twice). A cache outside the repository may be shared with
    other repositories and large: there the objects the targets use are compared instead,
    with the outputs' own objects (a folder's ``.dir`` listing) checked before DVC's
    ``used_objs`` fetches them.
    """

    def __init__(
        self, repo: Repo, used_present: Callable[[], set[Any]], outputs: Callable[[], set[str]]
    ) -> None:
        self.repo = repo
        roots = {repo.cache.local.path, repo.cache.legacy.path}
        self.inside = all(_is_within(r, repo.root_dir) for r in roots)
        self.roots = sorted(roots)
        self.used_present = used_present
        if self.inside:
            self.before: set[Any] = self._listing()
        else:
            self.missing = {h for h in outputs() if not repo.cache.local.exists(h)}
            self.before = {h.value for h in used_present()}

    def fetched_bytes(self) -> int:
        """Bytes of the object files that are new since the meter started."""
        if self.inside:
            return sum(_size(path) for path in self._listing() - self.before)
        new = {h.value for h in self.used_present()} - self.before
        return sum(_cache_size(self.repo, value) for value in new | self.missing)

    def _listing(self) -> set[Any]:
        found: set[Any] = set()
        for root in self.roots:
            for shard in _scan(root):  # objects live in <root>/<2 hex digits>/<rest>
                if len(shard.name) == 2 and shard.is_dir(follow_symlinks=False):
                    found.update(entry.path for entry in _scan(shard.path))
        return found


def _scan(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _is_within(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) == (
        os.path.realpath(root)
    )


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _cache_size(repo: Repo, hash_info: Any) -> int:
    value = hash_info if isinstance(hash_info, str) else hash_info.value
    try:
        return os.path.getsize(repo.cache.local.oid_to_path(value))
    except OSError:
        return 0
