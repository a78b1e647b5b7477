from django.db import models


class Item(models.Model):
    """One row of the 1M-row table: about as wide as a queue row."""

    title = models.CharField(max_length=200)
    category = models.CharField(max_length=20, db_index=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(db_index=True)
