"""Pushing an export to the Hugging Face Hub: one repository per export, one commit per push.

The repository mirrors what a user loads: the export's composition (`setup/<name>/`) at its root, so
`model.load_adapter_setup("<repo>")` works straight from the Hub, and every other export folder under
`<kind>/<adapter>/` (e.g. `lang/lang_de/`). Without `yes`, nothing is sent: the planned file list is
printed. The token comes from `HF_TOKEN` or the user's `huggingface-cli login`, through
`huggingface_hub.get_token()`; it is handed to `HfApi` and never printed, logged or written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from adapter_xfer.errors import UserError
from adapter_xfer.model_card import is_noncommercial


def make_api(token: str) -> Any:
    """The Hub client (tests replace this factory with a fake at the boundary)."""
    from huggingface_hub import HfApi

    return HfApi(token=token)


def find_token() -> str | None:
    """`HF_TOKEN`, else the token saved by `hf auth login` / `huggingface-cli login`, else None."""
    from huggingface_hub import get_token

    return get_token()


def upload_plan(folders: list[Path]) -> list[tuple[str, Path]]:
    """(path in the repository, local file) for every file of an export, sorted by repository path.

    Raises:
        UserError: two local files would land on the same repository path (one would silently
            replace the other on the Hub), e.g. two exports both holding `lang/lang_de/`.
    """
    plan: dict[str, Path] = {}
    for folder in folders:
        if folder.parent.name == "setup" or len(folders) == 1:
            prefix = ""  # the composition (or a lone adapter) sits at the root, loadable by repo id
        else:  # hub_exports/<kind>/<name>/<adapter> -> <kind>/<adapter>/
            prefix = f"{folder.parent.parent.name}/{folder.name}/"
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = prefix + path.relative_to(folder).as_posix()
            if key in plan:
                raise UserError(f"--push: {plan[key]} and {path} would both be uploaded as {key}; push them separately")
            plan[key] = path
    return sorted(plan.items())


def licence_warnings(folders: list[Path]) -> list[str]:
    """One line per training dataset of the export whose licence restricts commercial use."""
    seen: dict[str, str] = {}
    for folder in folders:
        meta = json.loads((folder / "adapter_xfer.json").read_text(encoding="utf-8"))
        for record in meta.get("data", []):
            if is_noncommercial(record.get("license", "")):
                seen[record["hub_id"]] = record["license"]
    return [f"warning: training data {hub_id} is licensed '{licence}': the uploaded weights may only be "
            "usable non-commercially; say so on the Hub" for hub_id, licence in sorted(seen.items())]  # fmt: skip


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(f"--push: invalid repository id '{repo_id}': {str(exc).splitlines()[0]}") from None


def push_export(repo_id: str, folders: list[Path], yes: bool = False, private: bool = False,
                out: TextIO | None = None, err: TextIO | None = None) -> list[str]:  # fmt: skip
    """Upload an export's folders to the model repository `repo_id` (only list them unless `yes`).

    Args:
        repo_id: `user/name` or `org/name` on the Hub.
        folders: the folders `export_run` returned.
        yes: upload; otherwise only print what would be uploaded.
        private: create the repository as private (an existing one keeps its visibility).
        out, err: streams for the file list and the warnings (default stdout and stderr).

    Returns:
        The repository paths uploaded (or that would be).
    """
    out, err = out or sys.stdout, err or sys.stderr
    _check_repo_id(repo_id)
    plan = upload_plan(folders)
    for line in licence_warnings(folders):
        print(line, file=err)
    if not yes:
        print(f"would upload {len(plan)} files to https://huggingface.co/{repo_id} (add --yes to upload):", file=out)
        for path_in_repo, _ in plan:
            print(f"  {path_in_repo}", file=out)
        return [p for p, _ in plan]
    token = find_token()
    if not token:
        raise UserError("--push: no Hugging Face token; set HF_TOKEN or run `hf auth login` (nothing was uploaded)")
    from huggingface_hub import CommitOperationAdd

    api = make_api(token)
    operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(local)) for p, local in plan]
    try:
        # private=None: a new repository gets the account's default visibility unless --private asks
        api.create_repo(repo_id=repo_id, repo_type="model", private=True if private else None, exist_ok=True)
        commit = api.create_commit(repo_id=repo_id, repo_type="model", operations=operations,
                                   commit_message=f"adapter_xfer export ({len(plan)} files)")  # fmt: skip
    except Exception as exc:  # network, permissions, quota: one line, never the token
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"--push to {repo_id} failed: {message.replace(token, '***')}") from None
    url = getattr(commit, "commit_url", None) or f"https://huggingface.co/{repo_id}"
    print(f"uploaded {len(plan)} files to {url}", file=out)
    return [p for p, _ in plan]
