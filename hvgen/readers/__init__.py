"""Readers of external data sets (COCO-format annotations, face sources ...): files on disk →
plain Python objects, with one clear error naming file, record and field for bad input.
Imported by the supply stage and benchmark plug-ins; imports nothing of hvgen but its errors."""
