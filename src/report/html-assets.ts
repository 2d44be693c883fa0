/** Inline style and script of the HTML report: no CDN, no fonts, so the file works offline. */
export const STYLE = `
:root{--fail:#b42318;--pass:#067647;--warn:#b54708;--skip:#667085;--line:#d0d5dd;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#101828}
body{margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:24px;margin:8px 0}h2{font-size:18px;margin:24px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.o-passed{color:var(--pass)}.o-failed,.o-interrupted{color:var(--fail)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7;position:sticky;top:0}
th[data-k]{cursor:pointer;user-select:none}th[data-k]:after{content:' \\2195';color:#98a2b3}
th.asc:after{content:' \\2191'}th.desc:after{content:' \\2193'}
td.n,th.n{text-align:right}
.passed{color:var(--pass)}.failed{color:var(--fail);font-weight:600}.allowed-failure{color:var(--warn);font-weight:600}.skipped{color:var(--skip)}
.warning{border:2px solid var(--warn);background:#fffaeb;padding:8px 16px;border-radius:6px}
.failure{border:1px solid var(--line);border-left:4px solid var(--fail);border-radius:4px;margin:8px 0;padding:4px 12px}
.failure[data-status=allowed-failure]{border-left-color:var(--warn)}
.failure>summary{cursor:pointer;font-weight:600;padding:4px 0}
pre{background:#f9fafb;border:1px solid #eaecf0;padding:8px;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-word}
.controls{display:flex;gap:8px;align-items:center;margin:8px 0;flex-wrap:wrap}
.controls input{flex:1;min-width:240px;padding:6px}.controls select{padding:6px}
.tag{display:inline-block;background:#eef4ff;color:#3538cd;border-radius:8px;padding:0 6px;margin:1px;font-size:12px}
.muted{color:#667085}
svg text{font-size:11px;fill:#344054}
`

export const SCRIPT = `
(function(){
var body=document.querySelector('#results tbody');if(!body)return;
var rows=Array.prototype.slice.call(body.rows);
var text=rows.map(function(r){return r.textContent.toLowerCase()});
var filter=document.getElementById('filter'),status=document.getElementById('status'),category=document.getElementById('category'),shown=document.getElementById('shown');
function apply(){var q=filter.value.trim().toLowerCase(),s=status.value,c=category.value,n=0;
for(var i=0;i<rows.length;i++){var r=rows[i];var ok=(!q||text[i].indexOf(q)>=0)&&(!s||(' '+r.getAttribute('data-s')+' ').indexOf(' '+s+' ')>=0)&&(!c||(' '+r.getAttribute('data-c')+' ').indexOf(' '+c+' ')>=0);
r.hidden=!ok;if(ok)n++}shown.textContent=n+' of '+rows.length+' tests shown'}
filter.addEventListener('input',apply);status.addEventListener('change',apply);category.addEventListener('change',apply);
var heads=document.querySelectorAll('#results th[data-k]');
Array.prototype.forEach.call(heads,function(th){th.addEventListener('click',function(){
var col=th.cellIndex,num=th.getAttribute('data-k')==='n',dir=th.classList.contains('asc')?-1:1;
Array.prototype.forEach.call(heads,function(h){h.classList.remove('asc','desc')});th.classList.add(dir===1?'asc':'desc');
var keyed=rows.map(function(r,i){var cell=r.cells[col];var v=num?Number(cell.getAttribute('data-v')||0):cell.textContent.toLowerCase();return{r:r,v:v,i:i}});
keyed.sort(function(a,b){return a.v<b.v?-dir:a.v>b.v?dir:a.i-b.i});
var frag=document.createDocumentFragment();keyed.forEach(function(k){frag.appendChild(k.r)});body.appendChild(frag);
rows=keyed.map(function(k){return k.r});text=rows.map(function(r){return r.textContent.toLowerCase()})})});
apply();
})();
`
