"""Activities from and to files: upload, a preview with every problem by line and column,
confirm (accounts the file names created on request); and the export in Folio's CSV."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.services import activity_import

bp = Blueprint("ledger_files", __name__, url_prefix="/activities")


@bp.before_request
@login_required
def _login() -> None:
    pass


def _page(status: int = 200, **context):
    context.setdefault("preview", None)
    context.setdefault("text", "")
    context.setdefault("filename", "")
    return render_template("ledger/import.html", **context), status


@bp.route("/import", methods=["GET", "POST"])
def import_file():
    if request.method != "POST":
        return _page()
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        data, filename = upload.read(activity_import.MAX_BYTES + 1), upload.filename
    else:
        data, filename = request.form.get("text", "").encode("utf-8"), request.form.get("filename", "")
    if not data.strip():
        return _page(400, error=_("Choose a file or paste its contents."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _page(400, error=_("The file is not UTF-8 text. Export it from your spreadsheet as “CSV UTF-8”."))
    preview = activity_import.preview(current_user, data, filename)
    context = dict(preview=preview, text=text, filename=filename)
    if preview.errors:
        return _page(400, **context)
    if request.form.get("confirm") != "1":
        return _page(**context)
    try:
        imported = activity_import.confirm(current_user, preview, create_accounts=request.form.get("create") == "1")
    except ValueError as exc:
        return _page(400, error=str(exc), **context)
    flash(_("Imported %(imported)d activities; %(skipped)d already there were skipped.", imported=imported,
            skipped=preview.duplicates), "success")
    return redirect(url_for("accounts.index"))


@bp.get("/export.csv")
def export_csv():
    resp = Response(activity_import.export_csv(current_user), mimetype="text/csv")
    resp.headers["Content-Disposition"] = 'attachment; filename="folio-activities.csv"'
    return resp
