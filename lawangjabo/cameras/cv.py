"""OpenCV, imported the one safe way.

By default OpenCV lets one ``VideoCapture`` open at a time per process: a dead camera would hold
every other camera's open for its whole timeout. ``OPENCV_FFMPEG_IS_THREAD_SAFE=1`` must be in the
environment *before* ``import cv2`` to remove that lock (an empty value breaks every open). Every
module imports cv2 from here.
"""

from __future__ import annotations

import os

os.environ["OPENCV_FFMPEG_IS_THREAD_SAFE"] = "1"
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import cv2

__all__ = ["cv2"]
