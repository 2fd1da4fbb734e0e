from django.db import models


class Row(models.Model):
    body = models.TextField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.body[:60]
