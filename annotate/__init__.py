"""Render passes + scene description → exact labels and dataset files (COCO, YOLO, masks, depth)."""
