// Maps without a tile server: a grid's GeoJSON boundary and a patrol's route
// projected onto an SVG, and taps on the SVG turned back into lon/lat.
//
// The projection is equirectangular with the longitudes scaled by the cosine
// of the middle latitude: over a grid a few kilometres across it keeps shapes
// and distances true to well under a percent.

export type LonLat = [number, number]
/** Polygons, each a list of rings (the first the outline, the others holes), each a list of points. */
export type Polygons = LonLat[][][]

const isPoint = (p: unknown): p is LonLat =>
  Array.isArray(p) && p.length >= 2 && Number.isFinite(p[0]) && Number.isFinite(p[1])

function rings(coords: unknown): LonLat[][] {
  if (!Array.isArray(coords)) return []
  return coords
    .filter(Array.isArray)
    .map((ring: unknown[]) => ring.filter(isPoint).map((p) => [Number(p[0]), Number(p[1])] as LonLat))
    .filter((ring) => ring.length > 0)
}

function geometryPolygons(geometry: unknown): Polygons {
  if (!geometry || typeof geometry !== 'object') return []
  const g = geometry as { type?: string; coordinates?: unknown; geometries?: unknown[]; geometry?: unknown; features?: unknown[] }
  switch (g.type) {
    case 'Polygon':
      return [rings(g.coordinates)].filter((p) => p.length > 0)
    case 'MultiPolygon':
      return Array.isArray(g.coordinates) ? g.coordinates.map(rings).filter((p) => p.length > 0) : []
    case 'GeometryCollection':
      return (g.geometries ?? []).flatMap(geometryPolygons)
    case 'Feature':
      return geometryPolygons(g.geometry)
    case 'FeatureCollection':
      return (g.features ?? []).flatMap(geometryPolygons)
    default:
      return []
  }
}

/** The polygons of a grid's boundary (GeoJSON text: Polygon, MultiPolygon, or a Feature of one); [] when none or unreadable. */
export function parseBoundary(text: string | null | undefined): Polygons {
  if (!text) return []
  try {
    return geometryPolygons(JSON.parse(text))
  } catch {
    return []
  }
}

/** The points of a route stored as a GeoJSON LineString text; [] when none or unreadable. */
export function parseRoute(text: unknown): LonLat[] {
  if (typeof text !== 'string' || !text) return []
  try {
    const g = JSON.parse(text) as { type?: string; coordinates?: unknown }
    if (g.type !== 'LineString' || !Array.isArray(g.coordinates)) return []
    return g.coordinates.filter(isPoint).map((p) => [Number(p[0]), Number(p[1])] as LonLat)
  } catch {
    return []
  }
}

/** Degrees to 6 decimals: about 0.1 m, and short text. */
const round6 = (x: number) => Math.round(x * 1e6) / 1e6

/** The route text with one more point at its end. */
export function appendPoint(routeText: unknown, point: LonLat): string {
  const points = parseRoute(routeText)
  points.push([round6(point[0]), round6(point[1])])
  return routeToText(points)
}

export function routeToText(points: LonLat[]): string {
  return JSON.stringify({ type: 'LineString', coordinates: points })
}

export interface Bounds {
  minLon: number
  minLat: number
  maxLon: number
  maxLat: number
}

export function boundsOf(points: LonLat[]): Bounds | null {
  if (points.length === 0) return null
  const b = { minLon: Infinity, minLat: Infinity, maxLon: -Infinity, maxLat: -Infinity }
  for (const [lon, lat] of points) {
    b.minLon = Math.min(b.minLon, lon)
    b.maxLon = Math.max(b.maxLon, lon)
    b.minLat = Math.min(b.minLat, lat)
    b.maxLat = Math.max(b.maxLat, lat)
  }
  return b
}

export interface Projection {
  width: number
  height: number
  /** lon/lat → SVG user units (y down). */
  project(p: LonLat): [number, number]
  /** SVG user units → lon/lat. */
  invert(xy: [number, number]): LonLat
  /** Metres per SVG unit, for a scale bar. */
  metresPerUnit: number
}

/** About 200 m: the least span a map shows, so a single point still has a frame around it. */
const MIN_SPAN_DEG = 0.002
const METRES_PER_DEGREE = 111_320

/**
 * A projection fitting `bounds` into a width × height viewBox with `padding`
 * units on every side, centred.
 */
export function fitProjection(bounds: Bounds, width: number, height: number, padding = 24): Projection {
  const midLat = (bounds.minLat + bounds.maxLat) / 2
  const k = Math.cos((midLat * Math.PI) / 180)
  const midLon = (bounds.minLon + bounds.maxLon) / 2
  // Spans in "ground" units: degrees of latitude, longitude scaled by cos(lat).
  const spanX = Math.max((bounds.maxLon - bounds.minLon) * k, MIN_SPAN_DEG)
  const spanY = Math.max(bounds.maxLat - bounds.minLat, MIN_SPAN_DEG)
  const scale = Math.min((width - 2 * padding) / spanX, (height - 2 * padding) / spanY)
  const cx = width / 2
  const cy = height / 2
  return {
    width,
    height,
    project([lon, lat]) {
      return [cx + (lon - midLon) * k * scale, cy - (lat - midLat) * scale]
    },
    invert([x, y]) {
      return [midLon + (x - cx) / (k * scale), midLat - (y - cy) / scale]
    },
    metresPerUnit: METRES_PER_DEGREE / scale,
  }
}

/** SVG path data of polygons ("M x y L … Z" per ring), for fill-rule evenodd. */
export function polygonsPath(polygons: Polygons, projection: Projection): string {
  return polygons
    .flatMap((rings) => rings)
    .map((ring) => ring.map((p, i) => {
      const [x, y] = projection.project(p)
      return `${i === 0 ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`
    }).join(' ') + ' Z')
    .join(' ')
}

/**
 * Where a tap at (clientX, clientY) falls in the viewBox of an SVG drawn in
 * `rect` with preserveAspectRatio "xMidYMid meet" (the default).
 */
export function clientToViewBox(
  rect: { left: number; top: number; width: number; height: number },
  viewBox: { width: number; height: number },
  clientX: number,
  clientY: number,
): [number, number] {
  const scale = Math.min(rect.width / viewBox.width, rect.height / viewBox.height)
  const offsetX = (rect.width - viewBox.width * scale) / 2
  const offsetY = (rect.height - viewBox.height * scale) / 2
  return [(clientX - rect.left - offsetX) / scale, (clientY - rect.top - offsetY) / scale]
}

/** A round length near a fifth of the map's width, for the scale bar: [metres, SVG units]. */
export function scaleBar(projection: Projection): [number, number] {
  const target = (projection.width / 5) * projection.metresPerUnit
  const steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]
  const metres = steps.reduce((best, s) => (Math.abs(s - target) < Math.abs(best - target) ? s : best), steps[0])
  return [metres, metres / projection.metresPerUnit]
}

/** Asks the device where it is: at most `timeoutMs`, then gives up. */
export function currentPosition(timeoutMs = 5000): Promise<LonLat> {
  return new Promise((resolve, reject) => {
    const geo = typeof navigator !== 'undefined' ? navigator.geolocation : undefined
    if (!geo) {
      reject(new Error('geolocation unavailable'))
      return
    }
    // Some WebViews never call back at all: a timer of our own as well.
    const timer = setTimeout(() => reject(new Error('geolocation timed out')), timeoutMs + 500)
    geo.getCurrentPosition(
      (pos) => {
        clearTimeout(timer)
        resolve([pos.coords.longitude, pos.coords.latitude])
      },
      (err) => {
        clearTimeout(timer)
        reject(new Error(err.message || 'geolocation failed'))
      },
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 30_000 },
    )
  })
}
