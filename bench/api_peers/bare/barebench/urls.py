import json

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from barebench.models import Row


@csrf_exempt
def insert(request: HttpRequest) -> JsonResponse:
    """Parse the JSON body, insert one row, answer with its id."""
    if request.method != "POST":
        return JsonResponse({"detail": "POST only"}, status=405)
    data = json.loads(request.body)
    row = Row.objects.create(body=str(data.get("body", "")), created_at=timezone.now())
    return JsonResponse({"id": row.pk, "body": row.body}, status=201)


urlpatterns = [path("rows", insert)]
