"""Serving stored attachments safely: always as a download, never rendered by the browser."""

from __future__ import annotations

from django.http import FileResponse, Http404

from sellerdesk.conversations.models import Attachment


def attachment_response(attachment: Attachment) -> FileResponse:
    """The file as a download: a merchant's HTML or SVG must not run in the desk's origin.
    A file missing from storage is a 404, not a server error."""
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("the file is no longer in storage") from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
