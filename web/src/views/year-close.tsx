export function YearClosePage() {
  return <p>Jahresabschluss</p>
}
